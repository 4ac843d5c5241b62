/**
 * The qcow2 on-disk format (QEMU docs/interop/qcow2.txt): header layout,
 * feature bits, table-entry bit fields. All numbers are big-endian.
 */

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** Byte offsets of the header fields (qcow2.txt "Header"). Version 2 headers end at V2_LENGTH. */
export const QCOW2_HEADER = {
  magic: 0, // u32
  version: 4, // u32
  backingFileOffset: 8, // u64
  backingFileSize: 16, // u32
  clusterBits: 20, // u32
  size: 24, // u64, virtual disk size in bytes
  cryptMethod: 32, // u32: 0 none, 1 AES, 2 LUKS
  l1Size: 36, // u32, entries
  l1TableOffset: 40, // u64
  refcountTableOffset: 48, // u64
  refcountTableClusters: 56, // u32
  nbSnapshots: 60, // u32
  snapshotsOffset: 64, // u64
  // Version 3 only:
  incompatibleFeatures: 72, // u64
  compatibleFeatures: 80, // u64
  autoclearFeatures: 88, // u64
  refcountOrder: 96, // u32
  headerLength: 100, // u32
  compressionType: 104, // u8, present when headerLength > 104
  V2_LENGTH: 72,
  V3_MIN_LENGTH: 104,
  /** What we write: the v3 header with the compression-type byte and padding to a multiple of 8. */
  V3_WRITTEN_LENGTH: 112,
} as const;

/** Incompatible feature bits: an image with an unknown one must not be opened. */
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_EXTERNAL_DATA = 1n << 2n;
export const INCOMPAT_COMPRESSION_TYPE = 1n << 3n;
export const INCOMPAT_EXTENDED_L2 = 1n << 4n;
/** Compatible feature bit 0: lazy refcounts (we never set it; refcounts are always kept exact). */
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;
/** Autoclear bits: a writer that does not maintain the feature clears the bit. */
export const AUTOCLEAR_BITMAPS = 1n << 0n;

/** Header extension types (qcow2.txt "Header extensions"). */
export const HEADER_EXT = {
  end: 0x00000000,
  backingFormat: 0xe2792aca,
  featureNameTable: 0x6803f857,
  bitmaps: 0x23852875,
  fullDiskEncryption: 0x0537be77,
  externalDataFile: 0x44415441,
} as const;

/** L1 entry: bits 9-55 are the L2 table offset; bit 63 "copied" means refcount is exactly 1. */
export const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
/** L2 entry: bits 9-55 host cluster offset (standard clusters). */
export const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
export const OFLAG_COPIED = 1n << 63n;
export const OFLAG_COMPRESSED = 1n << 62n;
/** Standard cluster descriptor bit 0 (version 3): the cluster reads as zeroes. */
export const OFLAG_ZERO = 1n;

export const MAX_BACKING_FILE_NAME = 1023;
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
}

export class Qcow2FormatError extends Error {
  constructor(path: string, message: string) {
    super(`qcow2 image ${path}: ${message}`);
    this.name = 'Qcow2FormatError';
  }
}

function u64(view: DataView, at: number, path: string, field: string): number {
  const v = view.getBigUint64(at, false);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Qcow2FormatError(path, `${field} 0x${v.toString(16)} is too large`);
  return Number(v);
}

/** Parses and sanity-checks the fixed header. `bytes` must hold at least the first cluster or the whole file. */
export function parseQcow2Header(bytes: Uint8Array, path: string): Qcow2Header {
  if (bytes.length < QCOW2_HEADER.V2_LENGTH) {
    throw new Qcow2FormatError(path, `truncated header (${bytes.length} bytes, need at least ${QCOW2_HEADER.V2_LENGTH})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = QCOW2_HEADER;
  const magic = view.getUint32(H.magic, false);
  if (magic !== QCOW2_MAGIC) throw new Qcow2FormatError(path, `bad magic 0x${magic.toString(16)} (expected QFI\\xfb)`);
  const version = view.getUint32(H.version, false);
  if (version !== 2 && version !== 3) throw new Qcow2FormatError(path, `unsupported version ${version} (only 2 and 3)`);
  const header: Qcow2Header = {
    version,
    backingFileOffset: u64(view, H.backingFileOffset, path, 'backing_file_offset'),
    backingFileSize: view.getUint32(H.backingFileSize, false),
    clusterBits: view.getUint32(H.clusterBits, false),
    size: u64(view, H.size, path, 'size'),
    cryptMethod: view.getUint32(H.cryptMethod, false),
    l1Size: view.getUint32(H.l1Size, false),
    l1TableOffset: u64(view, H.l1TableOffset, path, 'l1_table_offset'),
    refcountTableOffset: u64(view, H.refcountTableOffset, path, 'refcount_table_offset'),
    refcountTableClusters: view.getUint32(H.refcountTableClusters, false),
    nbSnapshots: view.getUint32(H.nbSnapshots, false),
    snapshotsOffset: u64(view, H.snapshotsOffset, path, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: H.V2_LENGTH,
    compressionType: 0,
  };
  if (version === 3) {
    if (bytes.length < H.V3_MIN_LENGTH) {
      throw new Qcow2FormatError(path, `truncated version 3 header (${bytes.length} bytes, need ${H.V3_MIN_LENGTH})`);
    }
    header.incompatibleFeatures = view.getBigUint64(H.incompatibleFeatures, false);
    header.compatibleFeatures = view.getBigUint64(H.compatibleFeatures, false);
    header.autoclearFeatures = view.getBigUint64(H.autoclearFeatures, false);
    header.refcountOrder = view.getUint32(H.refcountOrder, false);
    header.headerLength = view.getUint32(H.headerLength, false);
    if (header.headerLength < H.V3_MIN_LENGTH || header.headerLength % 8 !== 0 && header.headerLength !== H.V3_MIN_LENGTH) {
      throw new Qcow2FormatError(path, `invalid header_length ${header.headerLength}`);
    }
    if (header.headerLength > H.compressionType) {
      if (bytes.length <= H.compressionType) throw new Qcow2FormatError(path, 'truncated header (compression type missing)');
      header.compressionType = view.getUint8(H.compressionType);
    }
  }
  if (header.clusterBits < MIN_CLUSTER_BITS || header.clusterBits > MAX_CLUSTER_BITS) {
    throw new Qcow2FormatError(path, `cluster_bits ${header.clusterBits} outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  if (header.refcountOrder > 6) throw new Qcow2FormatError(path, `refcount_order ${header.refcountOrder} is above 6`);
  if (header.backingFileOffset !== 0 && header.backingFileSize > MAX_BACKING_FILE_NAME) {
    throw new Qcow2FormatError(path, `backing file name is ${header.backingFileSize} bytes (max ${MAX_BACKING_FILE_NAME})`);
  }
  const clusterSize = 2 ** header.clusterBits;
  for (const [name, off] of [
    ['l1_table_offset', header.l1TableOffset],
    ['refcount_table_offset', header.refcountTableOffset],
  ] as const) {
    if (off === 0 || off % clusterSize !== 0) throw new Qcow2FormatError(path, `${name} 0x${off.toString(16)} is not cluster aligned`);
  }
  return header;
}

/** Serializes the fixed header part (everything up to headerLength) into `out` at 0. */
export function writeQcow2Header(out: Uint8Array, h: Qcow2Header): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const H = QCOW2_HEADER;
  view.setUint32(H.magic, QCOW2_MAGIC, false);
  view.setUint32(H.version, h.version, false);
  view.setBigUint64(H.backingFileOffset, BigInt(h.backingFileOffset), false);
  view.setUint32(H.backingFileSize, h.backingFileSize, false);
  view.setUint32(H.clusterBits, h.clusterBits, false);
  view.setBigUint64(H.size, BigInt(h.size), false);
  view.setUint32(H.cryptMethod, h.cryptMethod, false);
  view.setUint32(H.l1Size, h.l1Size, false);
  view.setBigUint64(H.l1TableOffset, BigInt(h.l1TableOffset), false);
  view.setBigUint64(H.refcountTableOffset, BigInt(h.refcountTableOffset), false);
  view.setUint32(H.refcountTableClusters, h.refcountTableClusters, false);
  view.setUint32(H.nbSnapshots, h.nbSnapshots, false);
  view.setBigUint64(H.snapshotsOffset, BigInt(h.snapshotsOffset), false);
  if (h.version === 3) {
    view.setBigUint64(H.incompatibleFeatures, h.incompatibleFeatures, false);
    view.setBigUint64(H.compatibleFeatures, h.compatibleFeatures, false);
    view.setBigUint64(H.autoclearFeatures, h.autoclearFeatures, false);
    view.setUint32(H.refcountOrder, h.refcountOrder, false);
    view.setUint32(H.headerLength, h.headerLength, false);
    if (h.headerLength > H.compressionType) view.setUint8(H.compressionType, h.compressionType);
  }
}

export interface HeaderExtension {
  type: number;
  data: Uint8Array;
}

/** Reads the header extensions that follow the header (qcow2.txt "Header extensions"), up to the end marker. */
export function parseHeaderExtensions(bytes: Uint8Array, h: Qcow2Header, path: string): HeaderExtension[] {
  const clusterSize = 2 ** h.clusterBits;
  const limit = Math.min(bytes.length, clusterSize, h.backingFileOffset > 0 ? h.backingFileOffset : clusterSize);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: HeaderExtension[] = [];
  let at = h.headerLength;
  while (at + 8 <= limit) {
    const type = view.getUint32(at, false);
    const length = view.getUint32(at + 4, false);
    if (type === HEADER_EXT.end) return out;
    if (at + 8 + length > limit) throw new Qcow2FormatError(path, `header extension 0x${type.toString(16)} overruns the header cluster`);
    out.push({ type, data: bytes.slice(at + 8, at + 8 + length) });
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return out;
}

/** Names of the incompatible bits we do not support, for the error message. */
export function describeIncompatible(bits: bigint): string {
  const names: [bigint, string][] = [
    [INCOMPAT_DIRTY, 'dirty (lazy refcounts need repair: run `qemu-img check -r all`)'],
    [INCOMPAT_CORRUPT, 'corrupt'],
    [INCOMPAT_EXTERNAL_DATA, 'external data file'],
    [INCOMPAT_COMPRESSION_TYPE, 'non-deflate compression type'],
    [INCOMPAT_EXTENDED_L2, 'extended L2 entries (subclusters)'],
  ];
  const parts = names.filter(([bit]) => bits & bit).map(([, name]) => name);
  const known = names.reduce((acc, [bit]) => acc | bit, 0n);
  const unknown = bits & ~known;
  if (unknown) parts.push(`unknown bits 0x${unknown.toString(16)}`);
  return parts.join(', ');
}
