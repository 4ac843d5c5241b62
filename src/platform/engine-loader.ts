/**
 * The daemon's engines, from engines/index.ts (owned by the engines engineer).
 * Until that module exists, the daemon runs with the QEMU engine alone.
 */
import type { Logger } from 'pino';
import type { Engine, EngineName } from './engines/engine.js';
import { engineSetOf, type EngineSet } from './vms/engine-set.js';
import { QemuEngine } from './engines/qemu/qemu-engine.js';
import { detectHostFlavour } from './engines/host-flavour.js';

interface EnginesModule {
  createEngines(opts: { dataDir: string; log: Logger }): Record<EngineName, Engine> & { defaultEngine?: EngineSet['defaultEngine'] };
  defaultEngine?: EngineSet['defaultEngine'];
}

export async function loadEngines(opts: { dataDir: string; log: Logger }): Promise<EngineSet> {
  const path = './engines/index.js';
  let mod: EnginesModule;
  try {
    mod = (await import(path)) as EnginesModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !String(e).includes('engines/index')) throw e;
    const qemu = new QemuEngine({ log: opts.log, hostFlavour: detectHostFlavour });
    return engineSetOf({ qemu }, async () => ({ name: 'qemu', reason: (await detectHostFlavour()).description }));
  }
  const set = await mod.createEngines(opts);
  const def = set.defaultEngine ?? mod.defaultEngine;
  if (!def) throw new Error('engines/index.ts exports no defaultEngine()');
  return engineSetOf({ typevisor: set.typevisor, qemu: set.qemu }, () => def.call(set));
}
