/**
 * Fuzzing harness shared by every target: a seeded random source, a guest
 * memory wrapper that records out-of-range accesses and bounds work per
 * iteration, and the classification of errors a guest may legitimately
 * cause (typed guest errors) versus bugs.
 *
 * Adding a target is a one-file job: drop `test/fuzz/targets/<name>.ts`
 * exporting `target: FuzzTarget`; run.ts discovers it.
 */
import { GuestMemoryError, type GuestMemory, type GuestMemoryRegion } from '../../src/memory/guest-memory.js';
import { VirtqueueError } from '../../src/devices/virtio/queue/queue.js';
import { ChainLengthError } from '../../src/devices/virtio/queue/chain.js';

export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  /** One iteration: build state from `random`, drive it, throw on a property violation. */
  run(random: FuzzRandom): void;
}

/** Errors a hostile guest is allowed to provoke (they mark the device DEVICE_NEEDS_RESET). */
export function isGuestError(error: unknown): boolean {
  return error instanceof VirtqueueError || error instanceof GuestMemoryError || error instanceof ChainLengthError;
}

export class FuzzPropertyError extends Error {
  override name = 'FuzzPropertyError';
}

/** xorshift128+ over 32-bit halves: fast, seedable, reproducible. */
export class FuzzRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next() | 1;
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A "boundary-heavy" 16-bit value: small, near wrap, or random. */
  interestingU16(): number {
    return this.pick([0, 1, 2, 0x7fff, 0x8000, 0xfffe, 0xffff, this.int(0x10000), this.int(16)]);
  }

  /** A "boundary-heavy" 32-bit value. */
  interestingU32(): number {
    return this.pick([0, 1, 12, 16, 0xfff, 0x1000, 0x7fff_ffff, 0x8000_0000, 0xffff_fff0, 0xffff_ffff, this.u32(), this.int(4096)]);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * GuestMemory that records every access the device attempts outside RAM
 * (the property: device code checks guest addresses with contains() or gets
 * them pre-validated by Virtqueue.pop(), so it never even tries) and throws
 * FuzzPropertyError after `maxAccesses` accesses (a loop on guest data).
 */
export class GuardedMemory implements GuestMemory {
  outOfRange: Array<{ gpa: number; length: number; stack?: string | undefined }> = [];
  accesses = 0;

  constructor(
    private readonly inner: GuestMemory,
    private readonly maxAccesses = 5_000_000,
  ) {}

  get regions(): readonly GuestMemoryRegion[] {
    return this.inner.regions;
  }
  get totalBytes(): number {
    return this.inner.totalBytes;
  }

  private check(gpa: number, length: number): void {
    if (++this.accesses > this.maxAccesses) {
      throw new FuzzPropertyError(`more than ${this.maxAccesses} guest memory accesses in one iteration: a loop on guest data?`);
    }
    if (!this.inner.contains(gpa, length)) this.outOfRange.push({ gpa, length, stack: new Error().stack });
  }

  contains(gpa: number, length: number): boolean {
    return this.inner.contains(gpa, length);
  }
  regionIndexOf(gpa: number, length: number): number {
    this.check(gpa, length);
    return this.inner.regionIndexOf(gpa, length);
  }
  slice(gpa: number, length: number): Uint8Array {
    this.check(gpa, length);
    return this.inner.slice(gpa, length);
  }
  read(gpa: number, into: Uint8Array): void {
    this.check(gpa, into.length);
    this.inner.read(gpa, into);
  }
  write(gpa: number, from: Uint8Array): void {
    this.check(gpa, from.length);
    this.inner.write(gpa, from);
  }
  fill(gpa: number, length: number, value: number): void {
    this.check(gpa, length);
    this.inner.fill(gpa, length, value);
  }
  readU8(gpa: number): number {
    this.check(gpa, 1);
    return this.inner.readU8(gpa);
  }
  readU16(gpa: number): number {
    this.check(gpa, 2);
    return this.inner.readU16(gpa);
  }
  readU32(gpa: number): number {
    this.check(gpa, 4);
    return this.inner.readU32(gpa);
  }
  readU64(gpa: number): bigint {
    this.check(gpa, 8);
    return this.inner.readU64(gpa);
  }
  writeU8(gpa: number, value: number): void {
    this.check(gpa, 1);
    this.inner.writeU8(gpa, value);
  }
  writeU16(gpa: number, value: number): void {
    this.check(gpa, 2);
    this.inner.writeU16(gpa, value);
  }
  writeU32(gpa: number, value: number): void {
    this.check(gpa, 4);
    this.inner.writeU32(gpa, value);
  }
  writeU64(gpa: number, value: bigint): void {
    this.check(gpa, 8);
    this.inner.writeU64(gpa, value);
  }

  /** Throws FuzzPropertyError if any out-of-range access was attempted. */
  assertClean(): void {
    if (this.outOfRange.length > 0) {
      const first = this.outOfRange[0]!;
      throw new FuzzPropertyError(
        `device attempted ${this.outOfRange.length} guest access(es) outside RAM, first 0x${first.gpa.toString(16)}+${first.length}\n${first.stack ?? ''}`,
      );
    }
  }
}

/** Flips random bytes in [start, end) of guest memory (behind the device's back, as a racing guest would). */
export function corrupt(memory: GuestMemory, random: FuzzRandom, start: number, end: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const at = start + random.int(end - start);
    const mode = random.int(4);
    const old = memory.readU8(at);
    memory.writeU8(at, mode === 0 ? old ^ (1 << random.int(8)) : mode === 1 ? 0xff : mode === 2 ? 0 : random.u32() & 0xff);
  }
}
