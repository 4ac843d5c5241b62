/**
 * qcow2 images (versions 2 and 3; QEMU docs/interop/qcow2.txt), read-write.
 *
 * Guest offset -> L1 entry -> L2 table -> cluster descriptor. Data is written
 * straight to its host cluster; metadata changes (L1/L2 entries, refcounts)
 * are kept in memory and written by flush() in dependency order, each step
 * made durable before the next: data, refcount blocks, refcount table,
 * header, L2 tables, L1 table. So a crash never leaves metadata pointing at
 * unwritten data or at a cluster whose refcount is zero; at worst clusters
 * leak (which `qemu-img check` reports as leaks, not corruption).
 * Freed clusters are released only after the tables that dropped them are
 * durable, and allocation is append-only.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { lazyBuiltin } from '../sys/lazy-builtin.js';
import { checkDiskRange, DiskRangeError, type DiskBackend, type DiskFileIdentity } from '../devices/virtio/block/backend.js';
import { ImageFile } from './image-file.js';
import {
  HEADER_EXT, INCOMPAT_COMPRESSION_TYPE, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, L1E_OFFSET_MASK,
  L2E_OFFSET_MASK, OFLAG_COMPRESSED, OFLAG_COPIED, OFLAG_ZERO, QCOW2_HEADER, Qcow2FormatError,
  describeIncompatible, parseHeaderExtensions, parseQcow2Header, type Qcow2Header,
} from './qcow2-format.js';
import { Qcow2Refcounts } from './qcow2-refcount.js';

const ENTRY_BYTES = 8;
const SECTOR = 512;
/** L1 tables above this are refused (QEMU's own limit, QCOW_MAX_L1_SIZE). */
const MAX_L1_BYTES = 32 << 20;
/** Bytes of clean L2 tables kept in memory. */
const L2_CACHE_BYTES = 32 << 20;
/** Dirty metadata tables tolerated before a write forces a metadata flush. */
const MAX_DIRTY_TABLES = 256;

// node:zlib is loaded on the first compressed cluster: the device thread imports qcow2 for every VM, and compressed
// clusters are rare.
const zlib = lazyBuiltin<typeof import('node:zlib')>('node:zlib');

/** Opens a backing file: `format` from the backing-format header extension, or sniffed when absent. */
export type BackingOpener = (path: string, format: string | undefined, depth: number) => DiskBackend;

export interface Qcow2Info {
  readonly version: 2 | 3;
  readonly clusterBits: number;
  readonly backingFile?: string;
  readonly backingFormat?: string;
}

export class Qcow2Disk implements DiskBackend {
  readonly sizeBytes: number;
  readonly readonly: boolean;
  readonly supportsDiscard: boolean;
  readonly supportsWriteZeroes: boolean;
  readonly discardGranularity: number;
  readonly info: Qcow2Info;
  private readonly clusterBits: number;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly l1: bigint[];
  private readonly l1Offset: number;
  private l1Dirty = false;
  private readonly l2Cache = new Map<number, BigUint64Array>();
  private readonly dirtyL2 = new Set<number>();
  private readonly refcounts: Qcow2Refcounts | null;
  /** Host ranges to release once the tables that stopped naming them are durable. */
  private readonly pendingReleases: [number, number][] = [];
  /** File end (cluster aligned) of a read-only image, which cannot grow. */
  private readonly readOnlyFileEnd: number;
  private decompressed: { offset: number; data: Uint8Array } | null = null;

  private constructor(
    private readonly file: ImageFile,
    private readonly header: Qcow2Header,
    private readonly backing: DiskBackend | null,
    readonly_: boolean,
    info: Qcow2Info,
  ) {
    this.readonly = readonly_;
    this.info = info;
    this.sizeBytes = header.size;
    this.clusterBits = header.clusterBits;
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / ENTRY_BYTES;
    this.discardGranularity = this.clusterSize;
    this.supportsDiscard = !readonly_;
    this.supportsWriteZeroes = !readonly_;
    const path = file.path;
    const fileSize = file.size();
    const neededL1 = Math.ceil(header.size / (this.clusterSize * this.l2Entries));
    if (header.l1Size < neededL1) throw new Qcow2FormatError(path, `l1_size ${header.l1Size} is too small for a ${header.size}-byte disk (need ${neededL1})`);
    if (header.l1Size * ENTRY_BYTES > MAX_L1_BYTES) throw new Qcow2FormatError(path, `L1 table of ${header.l1Size} entries is too large`);
    if (header.l1TableOffset + header.l1Size * ENTRY_BYTES > fileSize) {
      throw new Qcow2FormatError(path, `L1 table at 0x${header.l1TableOffset.toString(16)} extends beyond the end of the file`);
    }
    this.l1Offset = header.l1TableOffset;
    const raw = new Uint8Array(header.l1Size * ENTRY_BYTES);
    file.readAt(this.l1Offset, raw);
    const view = new DataView(raw.buffer);
    this.l1 = [];
    const fileEnd = Math.ceil(fileSize / this.clusterSize) * this.clusterSize;
    this.readOnlyFileEnd = fileEnd;
    for (let i = 0; i < header.l1Size; i++) {
      const entry = view.getBigUint64(i * ENTRY_BYTES, false);
      const l2 = Number(entry & L1E_OFFSET_MASK);
      if (l2 % this.clusterSize !== 0 || (l2 !== 0 && l2 + this.clusterSize > fileEnd)) {
        throw new Qcow2FormatError(path, `L1 entry ${i} (0x${entry.toString(16)}) points outside the file or is misaligned`);
      }
      this.l1.push(entry);
    }
    if (header.refcountTableClusters * this.clusterSize > 8 << 20) {
      throw new Qcow2FormatError(path, `refcount table of ${header.refcountTableClusters} clusters is too large`);
    }
    this.refcounts = readonly_
      ? null
      : new Qcow2Refcounts(file, path, header.clusterBits, header.refcountOrder,
        { offset: header.refcountTableOffset, clusters: header.refcountTableClusters }, fileSize);
  }

  /** Opens `path`; backing files are opened read-only through `openBacking`. */
  static open(path: string, readonly: boolean, openBacking: BackingOpener, depth = 0): Qcow2Disk {
    const file = ImageFile.open(path, !readonly);
    try {
      return Qcow2Disk.openFile(file, readonly, openBacking, depth);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  private static openFile(file: ImageFile, readonly: boolean, openBacking: BackingOpener, depth: number): Qcow2Disk {
    const path = file.path;
    const head = new Uint8Array(Math.min(file.size(), 2 ** 21));
    file.readAt(0, head);
    const header = parseQcow2Header(head, path);
    const clusterSize = 2 ** header.clusterBits;
    const firstCluster = head.subarray(0, Math.min(head.length, clusterSize));
    if (header.cryptMethod !== 0) throw new Qcow2FormatError(path, `encrypted images (crypt_method ${header.cryptMethod}) are not supported`);
    let incompatible = header.incompatibleFeatures;
    if (incompatible & INCOMPAT_COMPRESSION_TYPE && header.compressionType === 0) incompatible &= ~INCOMPAT_COMPRESSION_TYPE;
    // Reading needs no exact refcounts, so a dirty or corrupt image may still be opened read-only.
    if (readonly) incompatible &= ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
    if (incompatible) throw new Qcow2FormatError(path, `unsupported incompatible features: ${describeIncompatible(incompatible)}`);
    if (header.compressionType !== 0) throw new Qcow2FormatError(path, `compression type ${header.compressionType} is not supported (only deflate)`);
    if (!readonly && header.nbSnapshots > 0) {
      throw new Qcow2FormatError(path, `has ${header.nbSnapshots} internal snapshot(s); writing such images is not supported (open read-only)`);
    }
    const extensions = parseHeaderExtensions(firstCluster, header, path);
    for (const ext of extensions) {
      if (ext.type === HEADER_EXT.externalDataFile || ext.type === HEADER_EXT.fullDiskEncryption) {
        throw new Qcow2FormatError(path, `header extension 0x${ext.type.toString(16)} (external data / encryption) is not supported`);
      }
    }
    const formatExt = extensions.find((e) => e.type === HEADER_EXT.backingFormat);
    const backingFormat = formatExt ? new TextDecoder().decode(formatExt.data) : undefined;
    let backingFile: string | undefined;
    let backing: DiskBackend | null = null;
    if (header.backingFileOffset !== 0) {
      if (header.backingFileOffset + header.backingFileSize > firstCluster.length) {
        throw new Qcow2FormatError(path, 'backing file name lies outside the header cluster');
      }
      backingFile = new TextDecoder().decode(firstCluster.subarray(header.backingFileOffset, header.backingFileOffset + header.backingFileSize));
      const resolved = isAbsolute(backingFile) ? backingFile : resolve(dirname(path), backingFile);
      try {
        backing = openBacking(resolved, backingFormat, depth + 1);
      } catch (err) {
        throw new Error(`qcow2 image ${path}: cannot open backing file ${backingFile}: ${(err as Error).message}`);
      }
    }
    const info: Qcow2Info = { version: header.version, clusterBits: header.clusterBits, backingFile, backingFormat };
    let disk: Qcow2Disk;
    try {
      disk = new Qcow2Disk(file, header, backing, readonly, info);
    } catch (err) {
      backing?.close();
      throw err;
    }
    if (!readonly && header.autoclearFeatures !== 0n) disk.clearAutoclear();
    return disk;
  }

  /** We do not maintain persistent bitmaps (or any autoclear feature), so the bits must go (qcow2.txt). */
  private clearAutoclear(): void {
    this.header.autoclearFeatures = 0n;
    this.file.writeAt(QCOW2_HEADER.autoclearFeatures, new Uint8Array(8));
    this.file.datasync();
  }

  // ---- reads ------------------------------------------------------------------------------------

  read(offset: number, into: Uint8Array): void {
    checkDiskRange(this.sizeBytes, offset, into.length);
    let pos = 0;
    while (pos < into.length) {
      const guest = offset + pos;
      const inCluster = guest % this.clusterSize;
      let take = Math.min(this.clusterSize - inCluster, into.length - pos);
      const entry = this.l2Entry(Math.floor(guest / this.clusterSize));
      const kind = this.classify(entry);
      if (kind === 'data') {
        // Coalesce clusters that are contiguous on the host into one pread.
        const host = this.hostOffset(entry);
        while (pos + take < into.length) {
          const next = this.l2Entry(Math.floor((guest + take) / this.clusterSize));
          if (this.classify(next) !== 'data' || this.hostOffset(next) !== host + inCluster + take) break;
          take += Math.min(this.clusterSize, into.length - pos - take);
        }
        this.file.readAt(host + inCluster, into.subarray(pos, pos + take));
      } else {
        this.readNonData(kind, entry, guest, into.subarray(pos, pos + take));
      }
      pos += take;
    }
  }

  private readNonData(kind: 'unallocated' | 'zero' | 'compressed', entry: bigint, guest: number, out: Uint8Array): void {
    if (kind === 'zero') {
      out.fill(0);
    } else if (kind === 'compressed') {
      const data = this.decompress(entry);
      const inCluster = guest % this.clusterSize;
      out.set(data.subarray(inCluster, inCluster + out.length));
    } else if (this.backing) {
      // The backing file may be smaller than this image: beyond its end the disk reads as zeroes.
      const avail = Math.max(0, Math.min(out.length, this.backing.sizeBytes - guest));
      if (avail > 0) this.backing.read(guest, out.subarray(0, avail));
      out.fill(0, avail);
    } else {
      out.fill(0);
    }
  }

  private classify(entry: bigint): 'unallocated' | 'zero' | 'compressed' | 'data' {
    if (entry & OFLAG_COMPRESSED) return 'compressed';
    if (this.header.version === 3 && entry & OFLAG_ZERO) return 'zero';
    return entry & L2E_OFFSET_MASK ? 'data' : 'unallocated';
  }

  private hostOffset(entry: bigint): number {
    const host = Number(entry & L2E_OFFSET_MASK);
    if (host % this.clusterSize !== 0 || host + this.clusterSize > this.fileEnd()) {
      throw new Qcow2FormatError(this.file.path, `L2 entry 0x${entry.toString(16)} points outside the file or is misaligned`);
    }
    return host;
  }

  /**
   * Like hostOffset, but refuses clusters holding the header, the L1 table or
   * the refcount table: a corrupt (or hostile) image must not let guest data
   * overwrite the image's own metadata (QEMU's "overlap check").
   */
  private writableHostOffset(entry: bigint): number {
    const host = this.hostOffset(entry);
    if (this.isFixedMetadata(host)) {
      throw new Qcow2FormatError(this.file.path, `L2 entry 0x${entry.toString(16)} points into the image's own metadata (corrupt image)`);
    }
    return host;
  }

  /** Whether the cluster at `host` holds the header, the L1 table or the refcount table. */
  private isFixedMetadata(host: number): boolean {
    const cs = this.clusterSize;
    const overlaps = (start: number, bytes: number) => host < start + Math.max(bytes, 1) && start < host + cs;
    return (
      overlaps(0, cs) ||
      overlaps(this.l1Offset, this.l1.length * ENTRY_BYTES) ||
      overlaps(this.header.refcountTableOffset, this.header.refcountTableClusters * cs)
    );
  }

  private fileEnd(): number {
    return this.refcounts ? this.refcounts.fileEnd : this.readOnlyFileEnd;
  }

  /** Compressed descriptor (qcow2.txt "Compressed Clusters Descriptor"): offset in bits 0..x-1, extra sectors above. */
  private compressedRange(entry: bigint): [number, number] {
    const x = BigInt(62 - (this.clusterBits - 8));
    const offset = Number(entry & ((1n << x) - 1n));
    const sectors = Number((entry & ((1n << 62n) - 1n)) >> x) + 1;
    return [offset, sectors * SECTOR - (offset % SECTOR)];
  }

  private decompress(entry: bigint): Uint8Array {
    const [offset, length] = this.compressedRange(entry);
    if (this.decompressed?.offset === offset) return this.decompressed.data;
    const stored = new Uint8Array(Math.min(length, Math.max(0, this.file.size() - offset)));
    this.file.readAt(offset, stored);
    let data: Uint8Array;
    try {
      // The stored range is rounded up to sectors, so tolerate bytes after the deflate stream.
      const { constants, inflateRawSync } = zlib();
      data = inflateRawSync(stored, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: this.clusterSize });
    } catch (err) {
      throw new Qcow2FormatError(this.file.path, `compressed cluster at 0x${offset.toString(16)} does not inflate: ${(err as Error).message}`);
    }
    if (data.length !== this.clusterSize) {
      throw new Qcow2FormatError(this.file.path, `compressed cluster at 0x${offset.toString(16)} inflates to ${data.length} bytes, not a cluster`);
    }
    this.decompressed = { offset, data };
    return data;
  }

  // ---- L1 / L2 ----------------------------------------------------------------------------------

  private l2Entry(guestCluster: number): bigint {
    const l1Index = Math.floor(guestCluster / this.l2Entries);
    const l2Offset = Number(this.l1[l1Index]! & L1E_OFFSET_MASK);
    if (l2Offset === 0) return 0n;
    return this.loadL2(l2Offset)[guestCluster % this.l2Entries]!;
  }

  private loadL2(l2Offset: number): BigUint64Array {
    const cached = this.l2Cache.get(l2Offset);
    if (cached) {
      // Refresh LRU position.
      this.l2Cache.delete(l2Offset);
      this.l2Cache.set(l2Offset, cached);
      return cached;
    }
    const bytes = new Uint8Array(this.clusterSize);
    this.file.readAt(l2Offset, bytes);
    const view = new DataView(bytes.buffer);
    const table = new BigUint64Array(this.l2Entries);
    for (let i = 0; i < this.l2Entries; i++) table[i] = view.getBigUint64(i * ENTRY_BYTES, false);
    this.l2Cache.set(l2Offset, table);
    this.trimL2Cache();
    return table;
  }

  private trimL2Cache(): void {
    const max = Math.max(16, Math.floor(L2_CACHE_BYTES / this.clusterSize));
    if (this.l2Cache.size <= max + this.dirtyL2.size) return;
    for (const key of this.l2Cache.keys()) {
      if (this.l2Cache.size <= max + this.dirtyL2.size) break;
      if (!this.dirtyL2.has(key)) this.l2Cache.delete(key);
    }
  }

  /** The L2 table covering `guestCluster`, allocated (in memory, dirty) when the L1 entry is empty. */
  private l2ForWrite(guestCluster: number): { table: BigUint64Array; offset: number } {
    const l1Index = Math.floor(guestCluster / this.l2Entries);
    let l2Offset = Number(this.l1[l1Index]! & L1E_OFFSET_MASK);
    if (l2Offset === 0) {
      l2Offset = this.refcounts!.allocate(1);
      const table = new BigUint64Array(this.l2Entries);
      this.l2Cache.set(l2Offset, table);
      this.dirtyL2.add(l2Offset);
      this.l1[l1Index] = BigInt(l2Offset) | OFLAG_COPIED;
      this.l1Dirty = true;
      return { table, offset: l2Offset };
    }
    return { table: this.loadL2(l2Offset), offset: l2Offset };
  }

  private setL2Entry(guestCluster: number, entry: bigint): void {
    const { table, offset } = this.l2ForWrite(guestCluster);
    const old = table[guestCluster % this.l2Entries]!;
    table[guestCluster % this.l2Entries] = entry;
    this.dirtyL2.add(offset);
    this.releaseLater(old, entry);
  }

  /** Queues the host storage `old` named, unless `replacement` still uses the same cluster. */
  private releaseLater(old: bigint, replacement: bigint): void {
    if (old & OFLAG_COMPRESSED) {
      this.pendingReleases.push(this.compressedRange(old));
      if (this.decompressed?.offset === this.compressedRange(old)[0]) this.decompressed = null;
      return;
    }
    const host = Number(old & L2E_OFFSET_MASK);
    if (host === 0 || host === Number(replacement & L2E_OFFSET_MASK)) return;
    // A corrupt entry naming the header or a table must not get that cluster freed (and hole-punched).
    if (host % this.clusterSize !== 0 || host >= this.fileEnd() || this.isFixedMetadata(host)) return;
    this.pendingReleases.push([host, this.clusterSize]);
  }

  // ---- writes -----------------------------------------------------------------------------------

  write(offset: number, from: Uint8Array): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, from.length);
    let pos = 0;
    while (pos < from.length) {
      const guest = offset + pos;
      const cluster = Math.floor(guest / this.clusterSize);
      const inCluster = guest % this.clusterSize;
      const entry = this.l2Entry(cluster);
      if (this.classify(entry) === 'data') {
        const take = Math.min(this.clusterSize - inCluster, from.length - pos);
        this.file.writeAt(this.writableHostOffset(entry) + inCluster, from.subarray(pos, pos + take));
        pos += take;
        continue;
      }
      pos += this.allocateAndWrite(cluster, inCluster, from.subarray(pos));
    }
    this.flushIfTooDirty();
  }

  /**
   * Writes into a run of clusters that have no host cluster of their own yet
   * (unallocated, zero or compressed), starting at `firstCluster`, within one
   * L2 table. Partially covered clusters are completed from what they read as
   * now (backing file, zeroes, decompressed data): copy-on-write. Returns the
   * number of bytes of `data` consumed.
   */
  private allocateAndWrite(firstCluster: number, inCluster: number, data: Uint8Array): number {
    const cs = this.clusterSize;
    const tableEnd = (Math.floor(firstCluster / this.l2Entries) + 1) * this.l2Entries;
    let count = 1;
    while (firstCluster + count < tableEnd && inCluster + data.length > count * cs) {
      if (this.classify(this.l2Entry(firstCluster + count)) === 'data') break;
      count++;
    }
    const consumed = Math.min(data.length, count * cs - inCluster);
    const host = this.refcounts!.allocate(count);
    if (inCluster === 0 && consumed === count * cs) {
      // Whole clusters: nothing to copy on write, the guest data goes straight to the file.
      this.file.writeAt(host, data.subarray(0, consumed));
    } else {
      const buffer = new Uint8Array(count * cs);
      if (inCluster > 0) this.readBase(firstCluster, buffer.subarray(0, cs));
      const tail = inCluster + consumed;
      if (tail % cs !== 0 && (inCluster === 0 || tail > cs)) {
        const lastIndex = Math.floor(tail / cs);
        this.readBase(firstCluster + lastIndex, buffer.subarray(lastIndex * cs, (lastIndex + 1) * cs));
      }
      buffer.set(data.subarray(0, consumed), inCluster);
      this.file.writeAt(host, buffer);
    }
    for (let i = 0; i < count; i++) this.setL2Entry(firstCluster + i, BigInt(host + i * cs) | OFLAG_COPIED);
    return consumed;
  }

  /** What a whole guest cluster reads as right now (for copy-on-write of a partial write). */
  private readBase(cluster: number, out: Uint8Array): void {
    const start = cluster * this.clusterSize;
    const inside = Math.max(0, Math.min(out.length, this.sizeBytes - start));
    if (inside > 0) this.read(start, out.subarray(0, inside));
    out.fill(0, inside);
  }

  discard(offset: number, length: number): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, length);
    // Discard is advisory: only whole clusters are dropped. With a backing file, a dropped
    // cluster must not reveal old backing data, so it becomes a zero cluster (version 3 only).
    const [first, end] = this.wholeClusters(offset, length);
    for (let c = first; c < end; c++) {
      const entry = this.l2Entry(c);
      if (this.backing) {
        if (this.header.version !== 3) continue;
        if (this.classify(entry) !== 'zero' || entry & L2E_OFFSET_MASK) this.setL2Entry(c, OFLAG_ZERO);
      } else if (entry !== 0n) {
        this.setL2Entry(c, 0n);
      }
    }
    this.flushIfTooDirty();
  }

  writeZeroes(offset: number, length: number, unmap: boolean): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, length);
    const [first, end] = this.header.version === 3 ? this.wholeClusters(offset, length) : [0, 0];
    const cs = this.clusterSize;
    // Partial clusters at either end (and everything on version 2) are written as zero bytes.
    const headEnd = first < end ? first * cs : offset + length;
    this.writeZeroBytes(offset, headEnd - offset);
    if (first < end) {
      for (let c = first; c < end; c++) {
        const entry = this.l2Entry(c);
        const kind = this.classify(entry);
        if (kind === 'unallocated' && !this.backing) continue; // already reads as zeroes
        if (kind === 'zero' && !(unmap && entry & L2E_OFFSET_MASK)) continue; // already zero, nothing to unmap
        // Without unmap the host cluster stays allocated ("preallocated zero cluster").
        const keep = !unmap && (kind === 'data' || kind === 'zero') ? (entry & L2E_OFFSET_MASK) | OFLAG_COPIED : 0n;
        this.setL2Entry(c, keep | OFLAG_ZERO);
      }
      const tailStart = Math.min(end * cs, offset + length);
      this.writeZeroBytes(tailStart, offset + length - tailStart);
    }
    this.flushIfTooDirty();
  }

  private writeZeroBytes(offset: number, length: number): void {
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += chunk.length) {
      this.write(offset + done, chunk.subarray(0, Math.min(chunk.length, length - done)));
    }
  }

  /** [first, end) guest clusters lying wholly inside the range (the disk's partial last cluster counts as whole). */
  private wholeClusters(offset: number, length: number): [number, number] {
    const cs = this.clusterSize;
    const first = Math.ceil(offset / cs);
    const end = offset + length === this.sizeBytes ? Math.ceil(this.sizeBytes / cs) : Math.floor((offset + length) / cs);
    return end > first ? [first, end] : [first, first];
  }

  // ---- flush ------------------------------------------------------------------------------------

  flush(): void {
    if (this.readonly) return;
    this.flushMetadata();
  }

  private flushIfTooDirty(): void {
    if (this.dirtyL2.size + this.refcounts!.dirtyCount > MAX_DIRTY_TABLES) this.flushMetadata();
  }

  private flushMetadata(): void {
    const file = this.file;
    const refcounts = this.refcounts!;
    file.datasync(); // guest data before anything names it
    if (refcounts.hasDirtyBlocks) {
      refcounts.writeBlocks();
      file.datasync();
    }
    if (refcounts.hasDirtyTable) {
      const moved = refcounts.writeTable();
      file.datasync();
      if (moved) {
        const fields = new Uint8Array(12);
        const view = new DataView(fields.buffer);
        view.setBigUint64(0, BigInt(moved.offset), false);
        view.setUint32(8, moved.clusters, false);
        file.writeAt(QCOW2_HEADER.refcountTableOffset, fields);
        file.datasync();
        this.header.refcountTableOffset = moved.offset;
        this.header.refcountTableClusters = moved.clusters;
        for (const old of refcounts.takeReplacedTables()) {
          this.pendingReleases.push([old.offset, old.clusters * this.clusterSize]);
        }
      }
    }
    if (this.dirtyL2.size > 0) {
      for (const l2Offset of this.dirtyL2) file.writeAt(l2Offset, this.tableBytes(this.l2Cache.get(l2Offset)!));
      this.dirtyL2.clear();
      file.datasync();
      this.trimL2Cache();
    }
    if (this.l1Dirty) {
      file.writeAt(this.l1Offset, this.tableBytes(this.l1));
      this.l1Dirty = false;
      file.datasync();
    }
    // Nothing durable names these ranges any more: release them and give the space back.
    const releases = this.pendingReleases.splice(0);
    for (const [offset, length] of releases) {
      let freed: number[];
      try {
        freed = refcounts.release(offset, length);
      } catch (err) {
        // A corrupt image named a cluster its refcounts never counted: leave it alone (a leak at worst).
        if (err instanceof Qcow2FormatError) continue;
        throw err;
      }
      for (const cluster of freed) file.punchHole(cluster, this.clusterSize);
    }
  }

  private tableBytes(entries: ArrayLike<bigint>): Uint8Array {
    const bytes = new Uint8Array(entries.length * ENTRY_BYTES);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < entries.length; i++) view.setBigUint64(i * ENTRY_BYTES, entries[i]!, false);
    return bytes;
  }

  identity(): DiskFileIdentity[] {
    return [this.file.identity(), ...(this.backing?.identity() ?? [])];
  }

  close(): void {
    try {
      if (!this.readonly) {
        // The second pass writes the refcounts changed by releases in the first.
        this.flushMetadata();
        this.flushMetadata();
      }
    } finally {
      this.file.close();
      this.backing?.close();
    }
  }

  private checkWritable(): void {
    if (this.readonly) throw new DiskRangeError(`disk ${this.file.path} is read-only`);
  }
}
