/**
 * What virtio-blk needs from a disk image, without knowing how it is stored.
 *
 * Implementations live in src/block (raw files, qcow2). Every call is
 * synchronous because it runs on the device thread, which has no event loop.
 * Offsets and lengths are in bytes; the device has already checked them
 * against `sizeBytes`, but implementations check again and throw a clear error.
 */

import type { GuestIoRanges } from '../../../memory/io-ranges.js';

/** One file a disk depends on (the image and each backing file), for snapshot/migration consistency checks. */
export interface DiskFileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly inode: number;
}

export interface DiskBackend {
  /** Virtual disk size seen by the guest. */
  readonly sizeBytes: number;
  readonly readonly: boolean;
  readonly supportsDiscard: boolean;
  readonly supportsWriteZeroes: boolean;
  /**
   * Smallest unit discard actually frees, in bytes (a qcow2 cluster); smaller
   * discards may be ignored. Optional: 512 when absent.
   */
  readonly discardGranularity?: number;
  /** Fill `into` with the bytes at [offset, offset + into.length). */
  read(offset: number, into: Uint8Array): void;
  write(offset: number, from: Uint8Array): void;
  /**
   * Optional vectored forms: the guest buffers of `ranges` one after another from `offset`, as the same reads or
   * writes buffer by buffer would, in fewer system calls (a request's guest buffers are often page-sized pieces).
   * They may consume `ranges` (GuestIoRanges.consume), which the caller refills for each request.
   */
  readv?(offset: number, into: GuestIoRanges): void;
  writev?(offset: number, from: GuestIoRanges): void;
  /** Make every completed write durable (fdatasync), metadata included. Returns only once it is. */
  flush(): void;
  /** The range's contents may be dropped; later reads return either old data or zeroes. */
  discard(offset: number, length: number): void;
  /** Later reads of the range return zeroes; `unmap` allows deallocating the storage behind it. */
  writeZeroes(offset: number, length: number, unmap: boolean): void;
  /** The image first, then its backing chain. */
  identity(): DiskFileIdentity[];
  close(): void;
}

/** A request outside the disk, or on a read-only disk: the device reports it as VIRTIO_BLK_S_IOERR. */
export class DiskRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiskRangeError';
  }
}

/** Throws DiskRangeError unless [offset, offset+length) lies inside a disk of `sizeBytes`. */
export function checkDiskRange(sizeBytes: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new DiskRangeError(`invalid disk range offset=${offset} length=${length}`);
  }
  if (offset + length > sizeBytes) {
    throw new DiskRangeError(`disk range 0x${offset.toString(16)}+0x${length.toString(16)} is beyond the disk end (0x${sizeBytes.toString(16)})`);
  }
}
