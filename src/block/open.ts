/** Opening disk images by path: format sniffing and backing chains. */
import * as fs from 'node:fs';
import type { DiskBackend } from '../devices/virtio/block/backend.js';
import { createQcow2 as createQcow2Image, type CreateQcow2Options } from './qcow2-create.js';
import { QCOW2_MAGIC } from './qcow2-format.js';
import { Qcow2Disk } from './qcow2.js';
import { RawDisk } from './raw.js';

export type DiskFormat = 'raw' | 'qcow2';
/** Backing chains deeper than this are refused (they are almost certainly loops). */
export const MAX_BACKING_DEPTH = 16;

export interface OpenDiskOptions {
  format?: DiskFormat;
  readonly: boolean;
}

/** The format from the file's magic: qcow2 when it starts with "QFI\xfb", else raw. */
export function sniffFormat(path: string): DiskFormat {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw new Error(`cannot open disk image ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const magic = Buffer.alloc(4);
    const n = fs.readSync(fd, magic, 0, 4, 0);
    return n === 4 && magic.readUInt32BE(0) === QCOW2_MAGIC ? 'qcow2' : 'raw';
  } finally {
    fs.closeSync(fd);
  }
}

export function openDisk(path: string, opts: OpenDiskOptions): DiskBackend {
  return openAtDepth(path, opts.format, opts.readonly, 0);
}

function openAtDepth(path: string, format: string | undefined, readonly: boolean, depth: number): DiskBackend {
  if (depth > MAX_BACKING_DEPTH) throw new Error(`backing chain deeper than ${MAX_BACKING_DEPTH} at ${path} (a loop?)`);
  const fmt = format ?? sniffFormat(path);
  switch (fmt) {
    case 'raw':
      return RawDisk.open(path, readonly);
    case 'qcow2':
      return Qcow2Disk.open(path, readonly, (p, f, d) => openAtDepth(p, f, true, d), depth);
    default:
      throw new Error(`disk image ${path}: unsupported format '${fmt}' (supported: raw, qcow2)`);
  }
}

/** Creates an empty qcow2 v3 image; with a backing file, sizeBytes defaults to the backing disk's size. */
export function createQcow2(path: string, options: CreateQcow2Options): void {
  createQcow2Image(path, options, (backingPath, format) => {
    const disk = openDisk(backingPath, { format, readonly: true });
    try {
      return disk.sizeBytes;
    } finally {
      disk.close();
    }
  });
}

export type { CreateQcow2Options };
