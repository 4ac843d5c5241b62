/**
 * The storage pool interface. A pool stores named volumes; the directory pool
 * is the first kind, and LVM-thin / ZFS / Ceph pools implement the same
 * contract later. Policy (base protection, attached-volume checks) lives in
 * StorageManager, above every pool kind, so new kinds inherit it.
 */
import type { Readable } from 'node:stream';
import type { CheckResult, InternalSnapshot, VolumeFormat } from './qemu-img.js';

export type PoolKind = 'dir';

export interface PoolInfo {
  name: string;
  kind: PoolKind;
  path: string;
  capacityBytes: number;
  freeBytes: number;
}

export interface VolumeInfo {
  pool: string;
  name: string;
  format: VolumeFormat;
  /** Size the guest sees. */
  virtualSizeBytes: number;
  /** Bytes used on the host. */
  actualSizeBytes: number;
  /** Absolute host path, for engines. */
  path: string;
  /** Backing file of a linked clone (absolute host path), if any. */
  backingPath?: string | undefined;
}

export interface ImportOptions {
  format: VolumeFormat;
  /** Lower-case hex SHA-256 the content must match; the volume is not created otherwise. */
  sha256?: string | undefined;
  /** Exact byte count expected (e.g. Content-Length); a shorter stream is a cut-off upload. */
  expectedBytes?: number | undefined;
  onProgress?: ((bytesWritten: number) => void) | undefined;
}

export interface ImportResult {
  volume: VolumeInfo;
  bytes: number;
  sha256: string;
}

export interface StoragePool {
  readonly name: string;
  readonly kind: PoolKind;
  info(): Promise<PoolInfo>;
  list(): Promise<VolumeInfo[]>;
  /** null when absent. */
  volume(name: string): Promise<VolumeInfo | null>;
  create(name: string, format: VolumeFormat, sizeBytes: number): Promise<VolumeInfo>;
  /** Grow only; shrinking is refused with a reason. */
  resize(name: string, sizeBytes: number): Promise<VolumeInfo>;
  delete(name: string): Promise<void>;
  /** Independent full copy (optionally converting format). */
  clone(source: string, target: string, format?: VolumeFormat): Promise<VolumeInfo>;
  /** qcow2 overlay whose backing file is `base` (which must then stay unchanged). */
  linkedClone(base: string, target: string, sizeBytes?: number): Promise<VolumeInfo>;
  /** Streams into a temporary name, verifies, then renames; nothing appears under `name` unless complete. */
  importStream(name: string, source: Readable, options: ImportOptions): Promise<ImportResult>;
  /** Converts a host file (e.g. a freshly built root filesystem) into a new volume. */
  importFile(name: string, file: string, fileFormat: VolumeFormat, format: VolumeFormat): Promise<VolumeInfo>;
  /** A self-contained stream of the volume (linked clones are flattened first). */
  exportStream(name: string): Promise<{ stream: Readable; sizeBytes: number; format: VolumeFormat }>;
  check(name: string): Promise<CheckResult>;
  snapshots(name: string): Promise<InternalSnapshot[]>;
  snapshotCreate(name: string, snapshot: string): Promise<void>;
  snapshotRestore(name: string, snapshot: string): Promise<void>;
  snapshotDelete(name: string, snapshot: string): Promise<void>;
}
