/**
 * The QEMU command line of the KVM lab's L1, and shell quoting for the files lab.ts writes for L1's init.
 * Pure functions, so the command line is unit-tested without booting anything.
 */

/** A host directory shared writable into L1 at the same path, over virtio-9p with this mount tag. */
export interface LabShare {
  readonly tag: string;
  readonly path: string;
}

export interface LabQemuConfig {
  /** L1 kernel: an ELF vmlinux (QEMU boots it through PVH) or a bzImage. */
  readonly kernel: string;
  readonly initramfs: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  /** Shared writable as 9p tag `results`. */
  readonly resultsDir: string;
  readonly shares: readonly LabShare[];
  readonly kernelArgs: string;
}

/**
 * QEMU writes its pid here, in the results directory: a host test that must act on L1's QEMU itself (stop it, to see
 * what a hung L1 looks like) reads it rather than searching the process list (procps is not on every host).
 */
export const L1_PID_FILE = 'l1-qemu.pid';

/** Older QEMU releases reject 9p mount tags longer than 31 bytes; ours are short anyway. */
const MAX_MOUNT_TAG_LENGTH = 31;

function virtfs(path: string, tag: string, readonly: boolean): string[] {
  if (tag.length === 0 || tag.length > MAX_MOUNT_TAG_LENGTH || !/^[A-Za-z0-9_]+$/.test(tag)) {
    throw new Error(`lab: invalid 9p mount tag ${JSON.stringify(tag)}`);
  }
  // QEMU splits -virtfs options at commas: a comma in a path is written as ",,".
  const escaped = path.replaceAll(',', ',,');
  // multidevs=remap: the host tree spans several devices; remapping keeps inode numbers unique in the guest.
  const options = [`local`, `path=${escaped}`, `mount_tag=${tag}`, 'security_model=none', 'multidevs=remap'];
  if (readonly) options.push('readonly=on');
  return ['-virtfs', options.join(',')];
}

/** `qemu-system-x86_64` arguments: TCG with `-cpu max` (emulated AMD SVM, so L1 has KVM), no network, serial on stdio. */
export function qemuLabArgs(config: LabQemuConfig): string[] {
  // mitigations=off: L1 is a throwaway test machine, and the speculation mitigations cost ~10% of its boot under TCG.
  // softlockup_panic=1: a CPU of L1 now and then stays stuck in its kernel for good (nested SVM under TCG; seen with
  // typevisor and with QEMU as the L1 VMM alike); panicking ends L1 (panic=-1 and -no-reboot) 20 s into the lockup
  // instead of at the run's time limit, and lab.ts recognises the run as a lab fault.
  const append = ['console=ttyS0', 'panic=-1', 'softlockup_panic=1', 'quiet', 'mitigations=off', config.kernelArgs]
    .filter((arg) => arg !== '')
    .join(' ');
  return [
    '-machine', 'q35,accel=tcg',
    '-cpu', 'max',
    '-smp', String(config.cpus),
    '-m', String(config.memoryMiB),
    '-nographic',
    '-nic', 'none',
    '-no-reboot',
    '-pidfile', `${config.resultsDir}/${L1_PID_FILE}`,
    '-kernel', config.kernel,
    '-initrd', config.initramfs,
    '-append', append,
    ...virtfs('/', 'hostroot', true),
    ...virtfs(config.resultsDir, 'results', false),
    ...config.shares.flatMap((share) => virtfs(share.path, share.tag, false)),
  ];
}

/** Quote a string for POSIX sh as one word. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
