/**
 * qcow2 reference counts (qcow2.txt "Host cluster management"): a refcount
 * table of u64 offsets to refcount blocks, each block an array of
 * 2^refcount_order-bit counters, one per host cluster.
 *
 * Allocation is append-only: new clusters come from the end of the file, so a
 * freed cluster is never handed out again while older metadata on disk may
 * still name it. Changes are kept in memory (dirty) and written by the image's
 * flush in dependency order: refcount blocks, then the table, then the header.
 */
import type { ImageFile } from './image-file.js';
import { Qcow2FormatError } from './qcow2-format.js';

const ENTRY_BYTES = 8;
/** Clean refcount blocks kept in memory (each covers clusterSize*8/refcountBits clusters). */
const MAX_CLEAN_BLOCKS = 64;
/** Same bound as on open (QEMU's QCOW_MAX_REFTABLE_SIZE). */
const MAX_TABLE_BYTES = 8 << 20;

export interface RefcountTableLocation {
  offset: number;
  clusters: number;
}

export class Qcow2Refcounts {
  private readonly clusterSize: number;
  private readonly refcountBits: number;
  private readonly maxRefcount: number;
  /** Refcount entries per refcount block. */
  private readonly entriesPerBlock: number;
  private table: number[];
  private location: RefcountTableLocation;
  /** Table entries changed in memory and not yet on disk; `tableMoved` means the whole table must be written. */
  private readonly dirtyTableEntries = new Set<number>();
  private tableMoved = false;
  /** The table the header still names while a moved table waits to be committed. */
  private previousLocation: RefcountTableLocation | null = null;
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly dirtyBlocks = new Set<number>();
  /** Next free byte at the end of the image (cluster aligned). */
  private end: number;

  constructor(
    private readonly file: ImageFile,
    private readonly path: string,
    clusterBits: number,
    refcountOrder: number,
    location: RefcountTableLocation,
    fileSize: number,
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.refcountBits = 2 ** refcountOrder;
    this.maxRefcount = this.refcountBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.refcountBits - 1;
    this.entriesPerBlock = (this.clusterSize * 8) / this.refcountBits;
    this.location = { ...location };
    this.end = Math.ceil(fileSize / this.clusterSize) * this.clusterSize;
    const bytes = new Uint8Array(location.clusters * this.clusterSize);
    if (location.offset + bytes.length > fileSize) {
      throw new Qcow2FormatError(path, `refcount table (0x${location.offset.toString(16)}, ${location.clusters} clusters) extends beyond the end of the file`);
    }
    file.readAt(location.offset, bytes);
    const view = new DataView(bytes.buffer);
    this.table = [];
    for (let i = 0; i < bytes.length / ENTRY_BYTES; i++) {
      const entry = view.getBigUint64(i * ENTRY_BYTES, false);
      const offset = Number(entry & ~0x1ffn);
      if (entry & 0x1ffn || offset % this.clusterSize !== 0 || offset + this.clusterSize > this.end) {
        throw new Qcow2FormatError(path, `refcount table entry ${i} (0x${entry.toString(16)}) points outside the file or is misaligned`);
      }
      this.table.push(offset);
    }
  }

  /** Offset one past the last allocated cluster. */
  get fileEnd(): number {
    return this.end;
  }

  get hasDirtyBlocks(): boolean {
    return this.dirtyBlocks.size > 0;
  }

  get hasDirtyTable(): boolean {
    return this.tableMoved || this.dirtyTableEntries.size > 0;
  }

  get dirtyCount(): number {
    return this.dirtyBlocks.size + this.dirtyTableEntries.size;
  }

  /** Reference count of the host cluster at byte offset `hostOffset`. */
  get(hostOffset: number): number {
    const cluster = Math.floor(hostOffset / this.clusterSize);
    const tableIndex = Math.floor(cluster / this.entriesPerBlock);
    const blockOffset = this.table[tableIndex] ?? 0;
    if (blockOffset === 0) return 0;
    return this.readEntry(this.loadBlock(blockOffset), cluster % this.entriesPerBlock);
  }

  /** Appends `count` contiguous clusters at the end of the image with refcount 1 and returns the first offset. */
  allocate(count: number): number {
    const offset = this.end;
    this.end += count * this.clusterSize;
    for (let i = 0; i < count; i++) this.adjust(offset + i * this.clusterSize, +1);
    return offset;
  }

  /** Drops one reference to each cluster in [offset, offset+length); returns the clusters that became free. */
  release(offset: number, length: number): number[] {
    const freed: number[] = [];
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) {
      if (this.adjust(c * this.clusterSize, -1) === 0) freed.push(c * this.clusterSize);
    }
    return freed;
  }

  private adjust(hostOffset: number, delta: number): number {
    const cluster = Math.floor(hostOffset / this.clusterSize);
    const tableIndex = Math.floor(cluster / this.entriesPerBlock);
    if (delta < 0 && (hostOffset >= this.end || !this.table[tableIndex])) {
      // Nothing counts this cluster: a corrupt image names storage it never allocated.
      throw new Qcow2FormatError(this.path, `releasing cluster 0x${hostOffset.toString(16)}, which has no reference count`);
    }
    if (tableIndex >= this.table.length) this.growTable(tableIndex + 1);
    let blockOffset = this.table[tableIndex]!;
    if (blockOffset === 0) {
      // A new refcount block goes at the end of the file; it then needs its own reference,
      // which usually lands in itself (it covers the clusters around it).
      blockOffset = this.end;
      this.end += this.clusterSize;
      this.blocks.set(blockOffset, new Uint8Array(this.clusterSize));
      this.dirtyBlocks.add(blockOffset);
      this.table[tableIndex] = blockOffset;
      this.dirtyTableEntries.add(tableIndex);
      this.adjust(blockOffset, +1);
    }
    const block = this.loadBlock(blockOffset);
    const index = cluster % this.entriesPerBlock;
    const value = this.readEntry(block, index) + delta;
    if (value < 0) throw new Qcow2FormatError(this.path, `refcount of cluster 0x${hostOffset.toString(16)} would drop below zero`);
    if (value > this.maxRefcount) throw new Qcow2FormatError(this.path, `refcount of cluster 0x${hostOffset.toString(16)} overflows ${this.refcountBits} bits`);
    this.writeEntry(block, index, value);
    this.dirtyBlocks.add(blockOffset);
    return value;
  }

  /**
   * Moves the refcount table to a bigger place at the end of the file. The new
   * table's own clusters (and any refcount block they need) must be counted in
   * the new table, so it is sized with headroom and grown again if that fails.
   */
  private growTable(minEntries: number): void {
    const perCluster = this.clusterSize / ENTRY_BYTES;
    let entries = Math.max(minEntries, this.table.length * 2, perCluster);
    for (;;) {
      const clusters = Math.ceil(entries / perCluster);
      // Everything up to the new table plus the table and a few blocks must be coverable.
      const lastCluster =
        Math.floor(this.end / this.clusterSize) + clusters + Math.ceil(clusters / this.entriesPerBlock) + 2;
      if (Math.floor(lastCluster / this.entriesPerBlock) + 1 <= clusters * perCluster) break;
      entries = clusters * perCluster * 2;
    }
    const clusters = Math.ceil(entries / perCluster);
    if (clusters * this.clusterSize > MAX_TABLE_BYTES) {
      throw new Qcow2FormatError(this.path, `refcount table would exceed ${MAX_TABLE_BYTES} bytes (image too large)`);
    }
    if (!this.previousLocation) this.previousLocation = { ...this.location };
    else this.pendingOldTables.push({ ...this.location });
    const offset = this.end;
    this.end += clusters * this.clusterSize;
    while (this.table.length < clusters * perCluster) this.table.push(0);
    this.location = { offset, clusters };
    this.tableMoved = true;
    for (let i = 0; i < clusters; i++) this.adjust(offset + i * this.clusterSize, +1);
  }

  /** Tables replaced twice between flushes: never named by the header, freed at commit. */
  private readonly pendingOldTables: RefcountTableLocation[] = [];

  /** Step 1 of a metadata flush: write every dirty refcount block. */
  writeBlocks(): void {
    for (const blockOffset of this.dirtyBlocks) this.file.writeAt(blockOffset, this.blocks.get(blockOffset)!);
    this.dirtyBlocks.clear();
    this.trimCache();
  }

  /**
   * Step 2: write the table (whole if it moved, else the changed entries).
   * Returns the new location when the header must be updated to point at it.
   */
  writeTable(): RefcountTableLocation | null {
    if (this.tableMoved) {
      const bytes = new Uint8Array(this.location.clusters * this.clusterSize);
      const view = new DataView(bytes.buffer);
      this.table.forEach((off, i) => view.setBigUint64(i * ENTRY_BYTES, BigInt(off), false));
      this.file.writeAt(this.location.offset, bytes);
    } else {
      const one = new Uint8Array(ENTRY_BYTES);
      const view = new DataView(one.buffer);
      for (const i of this.dirtyTableEntries) {
        view.setBigUint64(0, BigInt(this.table[i]!), false);
        this.file.writeAt(this.location.offset + i * ENTRY_BYTES, one);
      }
    }
    this.dirtyTableEntries.clear();
    const moved = this.tableMoved;
    this.tableMoved = false;
    return moved ? { ...this.location } : null;
  }

  /** Step 3, after the header names the new table: the old tables' clusters can be released. */
  takeReplacedTables(): RefcountTableLocation[] {
    const old = this.previousLocation ? [this.previousLocation, ...this.pendingOldTables] : [];
    this.previousLocation = null;
    this.pendingOldTables.length = 0;
    return old;
  }

  private loadBlock(blockOffset: number): Uint8Array {
    let block = this.blocks.get(blockOffset);
    if (!block) {
      block = new Uint8Array(this.clusterSize);
      this.file.readAt(blockOffset, block);
      this.blocks.set(blockOffset, block);
      this.trimCache();
    }
    return block;
  }

  private trimCache(): void {
    if (this.blocks.size <= MAX_CLEAN_BLOCKS + this.dirtyBlocks.size) return;
    for (const key of this.blocks.keys()) {
      if (this.blocks.size <= MAX_CLEAN_BLOCKS + this.dirtyBlocks.size) break;
      if (!this.dirtyBlocks.has(key)) this.blocks.delete(key);
    }
  }

  /** Entries narrower than a byte are packed LSB first; wider ones are big-endian. */
  private readEntry(block: Uint8Array, index: number): number {
    const bits = this.refcountBits;
    if (bits < 8) {
      const perByte = 8 / bits;
      return (block[Math.floor(index / perByte)]! >> ((index % perByte) * bits)) & ((1 << bits) - 1);
    }
    const bytes = bits / 8;
    let value = 0;
    for (let i = 0; i < bytes; i++) value = value * 256 + block[index * bytes + i]!;
    return value;
  }

  private writeEntry(block: Uint8Array, index: number, value: number): void {
    const bits = this.refcountBits;
    if (bits < 8) {
      const perByte = 8 / bits;
      const at = Math.floor(index / perByte);
      const shift = (index % perByte) * bits;
      const mask = ((1 << bits) - 1) << shift;
      block[at] = (block[at]! & ~mask) | ((value << shift) & mask);
      return;
    }
    const bytes = bits / 8;
    let v = value;
    for (let i = bytes - 1; i >= 0; i--) {
      block[index * bytes + i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
}
