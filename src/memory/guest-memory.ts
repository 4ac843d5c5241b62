/**
 * Guest physical memory as the VMM and devices see it.
 *
 * Every access is bounds-checked against the RAM regions: a guest-supplied
 * address that falls outside RAM (or straddles two regions) raises
 * GuestMemoryError, which device code turns into a failed request or
 * NEEDS_RESET — never a host crash or an access outside the mapping.
 * All multi-byte values are little-endian (x86 and virtio 1.x are).
 */

export class GuestMemoryError extends Error {
  constructor(
    readonly gpa: number,
    readonly length: number,
  ) {
    super(`guest address range 0x${gpa.toString(16)}+0x${length.toString(16)} is outside guest RAM`);
    this.name = 'GuestMemoryError';
  }
}

export interface GuestMemoryRegion {
  /** Guest-physical start address. */
  readonly gpa: number;
  /** Host bytes backing the region (an mmap'd ArrayBuffer, or a plain array in tests). */
  readonly bytes: Uint8Array;
}

export interface GuestMemory {
  readonly regions: readonly GuestMemoryRegion[];
  /** Total bytes of RAM across regions. */
  readonly totalBytes: number;
  /** True when [gpa, gpa+length) lies inside one region. */
  contains(gpa: number, length: number): boolean;
  /** Index in `regions` of the region holding all of [gpa, gpa+length), or -1. */
  regionIndexOf(gpa: number, length: number): number;
  /** A live view (no copy) of [gpa, gpa+length). */
  slice(gpa: number, length: number): Uint8Array;
  read(gpa: number, into: Uint8Array): void;
  write(gpa: number, from: Uint8Array): void;
  fill(gpa: number, length: number, value: number): void;
  readU8(gpa: number): number;
  readU16(gpa: number): number;
  readU32(gpa: number): number;
  readU64(gpa: number): bigint;
  writeU8(gpa: number, value: number): void;
  writeU16(gpa: number, value: number): void;
  writeU32(gpa: number, value: number): void;
  writeU64(gpa: number, value: bigint): void;
}

/** GuestMemory over a fixed list of non-overlapping regions. */
export class RegionGuestMemory implements GuestMemory {
  readonly regions: readonly GuestMemoryRegion[];
  readonly totalBytes: number;
  private readonly views: DataView[];

  constructor(regions: readonly GuestMemoryRegion[]) {
    const sorted = [...regions].sort((a, b) => a.gpa - b.gpa);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (prev.gpa + prev.bytes.length > sorted[i]!.gpa) {
        throw new Error(`guest memory regions overlap at 0x${sorted[i]!.gpa.toString(16)}`);
      }
    }
    this.regions = sorted;
    this.totalBytes = sorted.reduce((sum, r) => sum + r.bytes.length, 0);
    this.views = sorted.map((r) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
  }

  /** Plain in-process memory at GPA 0 (tests, fuzzing). */
  static anonymous(size: number): RegionGuestMemory {
    return new RegionGuestMemory([{ gpa: 0, bytes: new Uint8Array(size) }]);
  }

  regionIndexOf(gpa: number, length: number): number {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length < 0) return -1;
    const regions = this.regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i]!;
      if (gpa >= r.gpa && gpa + length <= r.gpa + r.bytes.length) return i;
    }
    return -1;
  }

  private locate(gpa: number, length: number): number {
    const i = this.regionIndexOf(gpa, length);
    if (i < 0) throw new GuestMemoryError(gpa, length);
    return i;
  }

  contains(gpa: number, length: number): boolean {
    return this.regionIndexOf(gpa, length) >= 0;
  }

  slice(gpa: number, length: number): Uint8Array {
    const r = this.regions[this.locate(gpa, length)]!;
    const off = gpa - r.gpa;
    return r.bytes.subarray(off, off + length);
  }

  read(gpa: number, into: Uint8Array): void {
    into.set(this.slice(gpa, into.length));
  }

  write(gpa: number, from: Uint8Array): void {
    this.slice(gpa, from.length).set(from);
  }

  fill(gpa: number, length: number, value: number): void {
    this.slice(gpa, length).fill(value);
  }

  private view(gpa: number, length: number): [DataView, number] {
    const i = this.locate(gpa, length);
    return [this.views[i]!, gpa - this.regions[i]!.gpa];
  }

  readU8(gpa: number): number {
    const [v, o] = this.view(gpa, 1);
    return v.getUint8(o);
  }
  readU16(gpa: number): number {
    const [v, o] = this.view(gpa, 2);
    return v.getUint16(o, true);
  }
  readU32(gpa: number): number {
    const [v, o] = this.view(gpa, 4);
    return v.getUint32(o, true);
  }
  readU64(gpa: number): bigint {
    const [v, o] = this.view(gpa, 8);
    return v.getBigUint64(o, true);
  }
  writeU8(gpa: number, value: number): void {
    const [v, o] = this.view(gpa, 1);
    v.setUint8(o, value);
  }
  writeU16(gpa: number, value: number): void {
    const [v, o] = this.view(gpa, 2);
    v.setUint16(o, value, true);
  }
  writeU32(gpa: number, value: number): void {
    const [v, o] = this.view(gpa, 4);
    v.setUint32(o, value >>> 0, true);
  }
  writeU64(gpa: number, value: bigint): void {
    const [v, o] = this.view(gpa, 8);
    v.setBigUint64(o, BigInt.asUintN(64, value), true);
  }
}
