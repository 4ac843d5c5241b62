/**
 * The engines the platform runs VMs on, and which one is the default on this host.
 */
import type { Logger } from 'pino';
import type { Engine, EngineName } from './engine.js';
import { detectHostFlavour, type HostFlavour } from './host-flavour.js';
import { QemuEngine } from './qemu/qemu-engine.js';
import { TypevisorEngine } from './typevisor/typevisor-engine.js';

export type { Engine, EngineName } from './engine.js';
export { detectHostFlavour, type HostFlavour } from './host-flavour.js';

export interface Engines {
  typevisor: Engine;
  qemu: Engine;
}

export interface CreateEnginesOptions {
  /** The platform's data directory (VM run directories are chosen by the caller, in VmLaunchSpec.runDir). */
  dataDir: string;
  log: Logger;
  /** Overrides host detection (tests). */
  hostFlavour?: () => Promise<HostFlavour>;
  /** Overrides `qemu-system-x86_64` from PATH. */
  qemuBinary?: string;
}

export function createEngines(options: CreateEnginesOptions): Engines {
  const hostFlavour = options.hostFlavour ?? detectHostFlavour;
  const log = options.log.child({ component: 'engines' });
  return {
    typevisor: new TypevisorEngine({ log, hostFlavour }),
    qemu: new QemuEngine({ log, hostFlavour, ...(options.qemuBinary ? { binary: options.qemuBinary } : {}) }),
  };
}

/** The engine picking rule, pure: typevisor where the host has hardware virtualization. */
export function chooseDefaultEngine(flavour: HostFlavour): { name: EngineName; reason: string } {
  if (flavour.hardwareKvm) {
    return { name: 'typevisor', reason: `${flavour.description}: using the typevisor VMM` };
  }
  return { name: 'qemu', reason: `${flavour.description}: using QEMU with TCG software emulation` };
}

/** The default engine for new VMs on this host, with a sentence saying why. */
export async function defaultEngine(hostFlavour: () => Promise<HostFlavour> = detectHostFlavour): Promise<{ name: EngineName; reason: string }> {
  return chooseDefaultEngine(await hostFlavour());
}
