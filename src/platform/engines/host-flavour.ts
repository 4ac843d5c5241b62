/**
 * Host flavour detection (ARCHITECTURE.md "Engines and hosts").
 *
 * Which engine can run a full guest kernel depends on where /dev/kvm comes from:
 * - VMX/SVM: kvm_intel / kvm_amd drive real hardware virtualization, so both the
 *   typevisor VMM and QEMU with `-accel kvm` boot unmodified kernels.
 * - PVM: /dev/kvm comes from the kvm_pvm module; guest kernel mode is emulated
 *   and stops on common kernel instructions, so only QEMU with TCG boots a kernel.
 * - no /dev/kvm at all: QEMU with TCG software emulation.
 *
 * The parsing is pure (`classifyHost`) so every combination is unit-tested; only
 * `readHostFacts` touches the file system.
 */
import { access, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';

export type HostFlavourKind = 'vmx' | 'svm' | 'pvm' | 'no-kvm';

/** Raw observations about the host, gathered by `readHostFacts`. */
export interface HostFacts {
  /** /dev/kvm exists and is a character device. */
  devKvmPresent: boolean;
  /** The current user may open /dev/kvm read-write. */
  devKvmAccessible: boolean;
  /** Flags of the first CPU in /proc/cpuinfo. */
  cpuFlags: ReadonlySet<string>;
  /** Names of loaded modules that matter here (directories in /sys/module). */
  modules: { kvm: boolean; kvmIntel: boolean; kvmAmd: boolean; kvmPvm: boolean };
}

export interface HostFlavour {
  kind: HostFlavourKind;
  /** True when /dev/kvm can run an unmodified guest kernel (hardware VMX/SVM behind it). */
  hardwareKvm: boolean;
  /** One plain sentence for the API, the CLI and the logs. */
  description: string;
}

/** The `flags` line of the first processor in /proc/cpuinfo, as a set. */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  for (const line of cpuinfo.split('\n')) {
    const match = /^flags\s*:\s*(.*)$/.exec(line);
    if (match) return new Set(match[1]!.trim().split(/\s+/).filter((flag) => flag.length > 0));
  }
  return new Set();
}

export function classifyHost(facts: HostFacts): HostFlavour {
  const { modules, cpuFlags } = facts;
  const vendor = cpuFlags.has('vmx') ? 'vmx' : cpuFlags.has('svm') ? 'svm' : null;
  const vendorModuleLoaded = modules.kvmIntel || modules.kvmAmd;

  if (!facts.devKvmPresent) {
    const why = modules.kvmPvm
      ? 'no /dev/kvm on this host (the kvm_pvm module is loaded but exposes no device)'
      : vendor !== null
        ? `no /dev/kvm on this host (the CPU has ${vendor.toUpperCase()} but KVM is not loaded)`
        : 'no /dev/kvm on this host';
    return { kind: 'no-kvm', hardwareKvm: false, description: why };
  }
  if (!facts.devKvmAccessible) {
    return {
      kind: 'no-kvm',
      hardwareKvm: false,
      description: '/dev/kvm exists but this user may not open it read-write (permission denied)',
    };
  }
  // A vendor module plus the matching CPU flag is real hardware virtualization, even
  // when kvm_pvm is also loaded (PVM is designed to coexist with kvm_intel/kvm_amd).
  if (vendor !== null && vendorModuleLoaded) {
    const module = modules.kvmIntel ? 'kvm_intel' : 'kvm_amd';
    return {
      kind: vendor,
      hardwareKvm: true,
      description: `/dev/kvm backed by ${vendor.toUpperCase()} hardware virtualization (${module})`,
    };
  }
  if (modules.kvmPvm) {
    return {
      kind: 'pvm',
      hardwareKvm: false,
      description: 'PVM host: /dev/kvm comes from kvm_pvm, which cannot run a guest kernel',
    };
  }
  if (vendor !== null) {
    // kvm_intel/kvm_amd built into the kernel without parameters do not show in /sys/module.
    return {
      kind: vendor,
      hardwareKvm: true,
      description: `/dev/kvm with ${vendor.toUpperCase()} hardware virtualization`,
    };
  }
  return {
    kind: 'no-kvm',
    hardwareKvm: false,
    description: '/dev/kvm exists but the CPU shows neither VMX nor SVM and no kvm_intel/kvm_amd/kvm_pvm module is loaded',
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Gather the facts from a root directory (`/` normally; a fake tree in tests). */
export async function readHostFacts(root = '/'): Promise<HostFacts> {
  const devKvm = join(root, 'dev/kvm');
  let devKvmPresent = false;
  try {
    const info = await stat(devKvm);
    devKvmPresent = info.isCharacterDevice() || root !== '/';
  } catch {
    devKvmPresent = false;
  }
  let devKvmAccessible = false;
  if (devKvmPresent) {
    try {
      await access(devKvm, constants.R_OK | constants.W_OK);
      devKvmAccessible = true;
    } catch {
      devKvmAccessible = false;
    }
  }
  let cpuinfo = '';
  try {
    cpuinfo = await readFile(join(root, 'proc/cpuinfo'), 'utf8');
  } catch {
    cpuinfo = '';
  }
  const module = (name: string) => exists(join(root, 'sys/module', name));
  const [kvm, kvmIntel, kvmAmd, kvmPvm] = await Promise.all([
    module('kvm'),
    module('kvm_intel'),
    module('kvm_amd'),
    module('kvm_pvm'),
  ]);
  return { devKvmPresent, devKvmAccessible, cpuFlags: parseCpuFlags(cpuinfo), modules: { kvm, kvmIntel, kvmAmd, kvmPvm } };
}

let cached: Promise<HostFlavour> | null = null;

/** The flavour of the host this process runs on (computed once). */
export function detectHostFlavour(): Promise<HostFlavour> {
  cached ??= readHostFacts('/').then(classifyHost);
  return cached;
}
