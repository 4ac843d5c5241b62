/**
 * The guest buffers of one I/O (a disk request's data, a packet) as ranges of
 * the guest RAM mappings, for one vectored system call.
 *
 * A range is a (region index, byte offset, length) triple in one Float64Array,
 * the form the native addon turns into a struct iovec array (sys/native.ts
 * preadvRanges). It replaces one Uint8Array per guest buffer: a 1 MiB O_DIRECT
 * request is up to 256 page-sized buffers, and making a typed array for each,
 * then having N-API unpack each, cost as much as the request's own copy in
 * the KVM lab. The object is reused from request to request (clear()).
 */
import { GuestMemoryError, type GuestMemory } from './guest-memory.js';

export class GuestIoRanges {
  /** (region index, byte offset into the region's bytes, length) for each range, 3 numbers each. */
  triples: Float64Array;
  /** Ranges held. */
  count = 0;
  /** Their total length. */
  byteLength = 0;
  /** The bytes of each region of `memory`, indexed as the triples index them. */
  readonly regionBytes: readonly Uint8Array[];

  constructor(
    readonly memory: GuestMemory,
    capacity = 64,
  ) {
    this.triples = new Float64Array(capacity * 3);
    this.regionBytes = memory.regions.map((r) => r.bytes);
  }

  /** `previous` emptied when it is over `memory`, else a new list: one per device, across requests and memory changes. */
  static reuse(previous: GuestIoRanges | null, memory: GuestMemory): GuestIoRanges {
    if (previous?.memory !== memory) return new GuestIoRanges(memory);
    previous.clear();
    return previous;
  }

  clear(): void {
    this.count = 0;
    this.byteLength = 0;
  }

  /**
   * Appends [gpa, gpa+length), which must lie in one RAM region (GuestMemoryError otherwise). A range that
   * continues the previous one in the same region extends it: a driver's scatter list often holds runs of
   * adjacent pages, and each range costs the system call an iovec.
   */
  push(gpa: number, length: number): void {
    if (length === 0) return;
    const region = this.memory.regionIndexOf(gpa, length);
    if (region < 0) throw new GuestMemoryError(gpa, length);
    const offset = gpa - this.memory.regions[region]!.gpa;
    let t = this.triples;
    const last = (this.count - 1) * 3;
    if (this.count > 0 && t[last] === region && t[last + 1]! + t[last + 2]! === offset) {
      t[last + 2]! += length;
    } else {
      if ((this.count + 1) * 3 > t.length) {
        t = new Float64Array(t.length * 2);
        t.set(this.triples);
        this.triples = t;
      }
      const at = this.count * 3;
      t[at] = region;
      t[at + 1] = offset;
      t[at + 2] = length;
      this.count++;
    }
    this.byteLength += length;
  }

  /**
   * Drops the first `bytes` (a short transfer's progress): ranges done are removed, one cut in the middle
   * is trimmed.
   */
  consume(bytes: number): void {
    const t = this.triples;
    let drop = 0;
    let left = Math.min(bytes, this.byteLength);
    this.byteLength -= left;
    while (drop < this.count && left >= t[drop * 3 + 2]!) left -= t[drop++ * 3 + 2]!;
    if (drop > 0) {
      t.copyWithin(0, drop * 3, this.count * 3);
      this.count -= drop;
    }
    if (left > 0) {
      t[1]! += left;
      t[2]! -= left;
    }
  }

  /** Live views of the ranges in order (for backends without a vectored path, and tests). */
  views(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const t = this.triples;
    for (let i = 0; i < this.count; i++) {
      const bytes = this.regionBytes[t[i * 3]!]!;
      const offset = t[i * 3 + 1]!;
      out.push(bytes.subarray(offset, offset + t[i * 3 + 2]!));
    }
    return out;
  }
}
