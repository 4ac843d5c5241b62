/**
 * The snapshot's JSON state (SnapshotStateV1) and the checks a restore makes
 * before anything runs: shape and version, and disks unchanged since.
 */
import { existsSync, statSync } from 'node:fs';
import { openDisk } from '../../block/open.js';
import type { CpuidEntry } from '../../kvm/kvm.js';
import type { VmConfig } from '../config.js';
import type { DevicesStateV1 } from '../device-manager.js';
import type { VcpuStateV1 } from './vcpu-state.js';
import { SnapshotFormatError } from './format.js';

export interface DiskIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  inode: number;
}

export interface SnapshotStateV1 {
  version: 1;
  createdAt: string;
  config: VmConfig;
  ramRanges: Array<{ gpa: number; size: number }>;
  cpuid: CpuidEntry[][];
  vcpus: VcpuStateV1[];
  vm: {
    /** kvm_irqchip for PIC master, PIC slave, IOAPIC (base64). */
    irqchips: string[];
    pit: string;
    /** kvmclock nanoseconds, decimal. */
    clock: string;
  };
  devices: DevicesStateV1;
  disks: DiskIdentity[];
}

export function parseSnapshotState(raw: unknown): SnapshotStateV1 {
  const s = raw as Partial<SnapshotStateV1> | null;
  if (!s || typeof s !== 'object') throw new SnapshotFormatError('snapshot state is not an object');
  if (s.version !== 1) throw new SnapshotFormatError(`snapshot state version ${String(s.version)} is not supported (expected 1)`);
  const missing = (['config', 'ramRanges', 'cpuid', 'vcpus', 'vm', 'devices', 'disks'] as const).filter((k) => s[k] === undefined);
  if (missing.length) throw new SnapshotFormatError(`snapshot state lacks ${missing.join(', ')}`);
  if (s.vcpus!.length !== s.config!.vcpus || s.cpuid!.length !== s.config!.vcpus) {
    throw new SnapshotFormatError(`snapshot state has ${s.vcpus!.length} vCPU states for ${s.config!.vcpus} vCPUs`);
  }
  return s as SnapshotStateV1;
}

/**
 * Every file the VM's disks read: each image and, for qcow2, its backing
 * chain (a changed base would change what the guest reads as much as a
 * changed overlay). Taken while the VM is paused, so no write is in flight.
 */
export function diskIdentities(config: VmConfig): DiskIdentity[] {
  return config.disks.flatMap((d) => {
    const disk = openDisk(d.path, { format: d.format, readonly: true });
    try {
      return disk.identity().map((f) => ({ path: f.path, size: f.size, mtimeMs: f.mtimeMs, inode: f.inode }));
    } finally {
      disk.close();
    }
  });
}

/** A snapshot only makes sense with the very disks it saw: refuse if one vanished or changed. */
export function checkDiskIdentities(disks: readonly DiskIdentity[]): void {
  for (const d of disks) {
    if (!existsSync(d.path)) throw new SnapshotFormatError(`disk ${d.path} of the snapshot no longer exists`);
    const st = statSync(d.path);
    if (st.ino !== d.inode || st.size !== d.size || st.mtimeMs !== d.mtimeMs) {
      throw new SnapshotFormatError(`disk ${d.path} changed since the snapshot was taken (size, inode or modification time differ)`);
    }
  }
}
