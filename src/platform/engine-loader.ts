/**
 * The daemon's engines (engines/index.ts, owned by the engines engineer) as the EngineSet VmManager uses.
 */
import type { Logger } from 'pino';
import { createEngines, defaultEngine } from './engines/index.js';
import { engineSetOf, type EngineSet } from './vms/engine-set.js';

export function loadEngines(opts: { dataDir: string; log: Logger }): EngineSet {
  const engines = createEngines(opts);
  return engineSetOf({ typevisor: engines.typevisor, qemu: engines.qemu }, () => defaultEngine());
}
