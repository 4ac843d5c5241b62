/**
 * What a VMM is asked to run, and the checks that turn bad input into a clear
 * message before anything is created (issue 2 "Bad input").
 */
import { existsSync, statSync } from 'node:fs';
import { MAX_GUEST_MEMORY, MAX_VCPUS, MIN_GUEST_MEMORY, MiB } from '../arch/x86_64/layout.js';

/** Linux command line used when --cmdline is not given (printed by `typevisor run --help`). */
export const DEFAULT_CMDLINE =
  'console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd';

export interface DiskConfig {
  path: string;
  readonly: boolean;
  format?: 'raw' | 'qcow2' | undefined;
  serial?: string | undefined;
}

export interface NetConfig {
  tap: string;
  mac?: string | undefined;
}

export interface VmConfig {
  kernelPath: string;
  initrdPath?: string | undefined;
  cmdline: string;
  vcpus: number;
  memoryMiB: number;
  disks: DiskConfig[];
  nets: NetConfig[];
  vsock?: { cid: number; uds: string } | undefined;
  rng: boolean;
  balloon: boolean;
  virtioConsole: boolean;
  /** Path of the KVM device (default /dev/kvm; TYPEVISOR_KVM or --kvm override it). */
  kvmPath: string;
}

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function checkFile(field: string, what: string, path: string): void {
  if (!existsSync(path)) throw new ConfigError(field, `${what} ${path} does not exist`);
  const st = statSync(path);
  if (!st.isFile()) throw new ConfigError(field, `${what} ${path} is not a regular file`);
}

export function validateConfig(c: VmConfig): void {
  if (!Number.isInteger(c.vcpus) || c.vcpus < 1 || c.vcpus > MAX_VCPUS) {
    throw new ConfigError('cpus', `--cpus must be an integer from 1 to ${MAX_VCPUS}, got ${c.vcpus}`);
  }
  const minMiB = MIN_GUEST_MEMORY / MiB;
  const maxMiB = MAX_GUEST_MEMORY / MiB;
  if (!Number.isInteger(c.memoryMiB) || c.memoryMiB < minMiB || c.memoryMiB > maxMiB) {
    throw new ConfigError('memory', `--memory must be an integer number of MiB from ${minMiB} to ${maxMiB}, got ${c.memoryMiB}`);
  }
  checkFile('kernel', 'kernel', c.kernelPath);
  if (c.initrdPath !== undefined) checkFile('initrd', 'initrd', c.initrdPath);
  c.disks.forEach((d, i) => checkFile(`disk[${i}]`, 'disk image', d.path));
  if (c.vsock && (!Number.isInteger(c.vsock.cid) || c.vsock.cid < 3 || c.vsock.cid > 0xffffffff)) {
    throw new ConfigError('vsock', `vsock cid must be an integer >= 3, got ${c.vsock.cid}`);
  }
  for (const n of c.nets) {
    if (n.mac !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(n.mac)) {
      throw new ConfigError('net', `MAC address ${n.mac} is not of the form 52:54:00:12:34:56`);
    }
  }
}
