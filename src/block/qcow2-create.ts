/**
 * Creates empty qcow2 version 3 images (what `qemu-img create -f qcow2` makes),
 * so the platform needs no qemu-img. Layout: header cluster (header,
 * extensions, backing file name), refcount table, refcount blocks, L1 table.
 */
import * as fs from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  HEADER_EXT, MAX_BACKING_FILE_NAME, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, QCOW2_HEADER, writeQcow2Header,
  type Qcow2Header,
} from './qcow2-format.js';

export interface CreateQcow2Options {
  /** Virtual size; defaults to the backing file's size. Must be a multiple of 512. */
  sizeBytes?: number;
  /** Stored as given; a relative name is resolved against the new image's directory. */
  backingFile?: string;
  backingFormat?: 'raw' | 'qcow2';
  clusterBits?: number;
}

/** Reads the virtual size of an existing disk (used when sizeBytes is omitted). */
export type DiskSizeProbe = (path: string, format: 'raw' | 'qcow2' | undefined) => number;

const REFCOUNT_ORDER = 4; // 16-bit refcounts, QEMU's default

export function createQcow2(path: string, options: CreateQcow2Options, probeSize: DiskSizeProbe): void {
  const clusterBits = options.clusterBits ?? 16;
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new Error(`createQcow2 ${path}: clusterBits ${clusterBits} outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  const cs = 2 ** clusterBits;
  let size = options.sizeBytes;
  if (options.backingFile !== undefined) {
    const resolved = isAbsolute(options.backingFile) ? options.backingFile : resolve(dirname(path), options.backingFile);
    const backingSize = probeSize(resolved, options.backingFormat); // also proves the backing file opens
    size ??= backingSize;
  }
  if (size === undefined) throw new Error(`createQcow2 ${path}: sizeBytes is required without a backing file`);
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
    throw new Error(`createQcow2 ${path}: size ${size} must be a positive multiple of 512`);
  }

  // Header cluster contents.
  const encoder = new TextEncoder();
  const extensions: Uint8Array[] = [];
  if (options.backingFormat) extensions.push(extension(HEADER_EXT.backingFormat, encoder.encode(options.backingFormat)));
  extensions.push(extension(HEADER_EXT.end, new Uint8Array(0)));
  const extBytes = extensions.reduce((n, e) => n + e.length, 0);
  const backingName = options.backingFile !== undefined ? encoder.encode(options.backingFile) : new Uint8Array(0);
  if (backingName.length > MAX_BACKING_FILE_NAME) throw new Error(`createQcow2 ${path}: backing file name longer than ${MAX_BACKING_FILE_NAME} bytes`);
  const backingOffset = QCOW2_HEADER.V3_WRITTEN_LENGTH + extBytes;
  if (backingOffset + backingName.length > cs) throw new Error(`createQcow2 ${path}: header does not fit in one ${cs}-byte cluster`);

  // Metadata clusters: header, refcount table, refcount blocks, L1. The refcount
  // structures must count themselves, so iterate to a fixed point.
  const l1Size = Math.ceil(size / (cs * (cs / 8)));
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / cs));
  const perBlock = (cs * 8) / 2 ** REFCOUNT_ORDER;
  let tableClusters = 1;
  let blocks = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters;
    const needBlocks = Math.ceil(total / perBlock);
    const needTable = Math.ceil((needBlocks * 8) / cs);
    if (needBlocks <= blocks && needTable <= tableClusters) break;
    blocks = Math.max(blocks, needBlocks);
    tableClusters = Math.max(tableClusters, needTable);
  }
  const tableOffset = cs;
  const blocksOffset = tableOffset + tableClusters * cs;
  const l1Offset = blocksOffset + blocks * cs;
  const totalClusters = 1 + tableClusters + blocks + l1Clusters;

  const header: Qcow2Header = {
    version: 3,
    backingFileOffset: backingName.length > 0 ? backingOffset : 0,
    backingFileSize: backingName.length,
    clusterBits,
    size,
    cryptMethod: 0,
    l1Size,
    l1TableOffset: l1Offset,
    refcountTableOffset: tableOffset,
    refcountTableClusters: tableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: REFCOUNT_ORDER,
    headerLength: QCOW2_HEADER.V3_WRITTEN_LENGTH,
    compressionType: 0,
  };
  const image = new Uint8Array(totalClusters * cs);
  writeQcow2Header(image, header);
  let at = QCOW2_HEADER.V3_WRITTEN_LENGTH;
  for (const e of extensions) {
    image.set(e, at);
    at += e.length;
  }
  image.set(backingName, backingOffset);
  const view = new DataView(image.buffer);
  for (let b = 0; b < blocks; b++) view.setBigUint64(tableOffset + b * 8, BigInt(blocksOffset + b * cs), false);
  for (let c = 0; c < totalClusters; c++) view.setUint16(blocksOffset + c * 2, 1, false); // 16-bit refcount = 1

  let fd: number;
  try {
    fd = fs.openSync(path, 'wx');
  } catch (err) {
    throw new Error(`createQcow2 ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    fs.writeSync(fd, image, 0, image.length, 0);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function extension(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + Math.ceil(data.length / 8) * 8);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, false);
  view.setUint32(4, data.length, false);
  out.set(data, 8);
  return out;
}
