/** How VmManager reaches the engines (engines/index.ts builds the real set; tests may build their own). */
import type { Engine, EngineName } from '../engines/engine.js';
import { badRequest } from '../http/api-error.js';

export interface EngineSet {
  /** Throws a 400 naming the `engine` field when this daemon has no such engine. */
  get(name: EngineName): Engine;
  /** The engine new VMs get when they name none, and why (host flavour). */
  defaultEngine(): Promise<{ name: EngineName; reason: string }>;
}

export function engineSetOf(engines: Partial<Record<EngineName, Engine>>, defaultEngine: EngineSet['defaultEngine']): EngineSet {
  return {
    get(name) {
      const e = engines[name];
      if (!e) throw badRequest(`engine ${name} is not built into this daemon`, 'engine');
      return e;
    },
    defaultEngine,
  };
}
