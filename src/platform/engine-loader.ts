/**
 * The daemon's engines, from engines/index.ts (owned by the engines engineer).
 */
import type { Logger } from 'pino';
import type { Engine, EngineName } from './engines/engine.js';
import { engineSetOf, type EngineSet } from './vms/engine-set.js';

interface EnginesModule {
  createEngines(opts: { dataDir: string; log: Logger }): Record<EngineName, Engine> & { defaultEngine?: EngineSet['defaultEngine'] };
  defaultEngine?: EngineSet['defaultEngine'];
}

export async function loadEngines(opts: { dataDir: string; log: Logger }): Promise<EngineSet> {
  const path = './engines/index.js';
  const mod = (await import(path)) as EnginesModule;
  const set = await mod.createEngines(opts);
  const def = set.defaultEngine ?? mod.defaultEngine;
  if (!def) throw new Error('engines/index.ts exports no defaultEngine()');
  return engineSetOf({ typevisor: set.typevisor, qemu: set.qemu }, () => def.call(set));
}
