/**
 * Sequential access to the buffers of a descriptor chain: devices read a
 * request header and payload from the readable buffers and write their reply
 * into the writable ones without caring where one guest buffer ends and the
 * next begins. Buffers were validated by Virtqueue.pop(), so the guest-memory
 * views here cannot fail for a well-behaved GuestMemory.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { GuestIoRanges } from '../../../memory/io-ranges.js';
import type { GuestBuffer } from './queue.js';

/** Raised when a request does not fit the buffers the driver supplied (a guest error, not a host one). */
export class ChainLengthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainLengthError';
  }
}

class ChainCursor {
  private index = 0;
  private offset = 0;
  private consumed = 0;
  readonly total: number;

  constructor(
    protected readonly memory: GuestMemory,
    private readonly buffers: readonly GuestBuffer[],
  ) {
    this.total = buffers.reduce((sum, b) => sum + b.len, 0);
  }

  /** Bytes not yet read / written. */
  get remaining(): number {
    return this.total - this.consumed;
  }

  /** Bytes read / written so far. */
  get position(): number {
    return this.consumed;
  }

  /**
   * Live views of the next `length` bytes (at most `remaining`), advancing
   * the cursor. Zero-copy: suitable for readv/writev on the VMM side. Buffers
   * that continue each other in guest memory become one view: a driver's
   * scatter list often holds runs of adjacent pages (Linux maps an O_DIRECT
   * request page by page), and each view costs the caller a system call.
   */
  views(length: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let left = Math.min(length, this.remaining);
    while (left > 0) {
      const buffer = this.buffers[this.index]!;
      const addr = buffer.addr + this.offset;
      let take = Math.min(left, buffer.len - this.offset);
      this.advance(take);
      left -= take;
      // advance() stopped at the start of the next non-empty buffer.
      while (left > 0 && this.offset === 0 && this.index < this.buffers.length) {
        const next = this.buffers[this.index]!;
        const more = Math.min(left, next.len);
        // Adjacent addresses may still lie in two RAM regions (two mappings): then the views stay apart.
        if (next.addr !== addr + take || !this.memory.contains(addr, take + more)) break;
        take += more;
        this.advance(more);
        left -= more;
      }
      out.push(this.memory.slice(addr, take));
    }
    return out;
  }

  /**
   * Appends the guest ranges of the next `length` bytes (at most `remaining`) to `into`, advancing the cursor;
   * returns how many bytes. Zero-copy like views(), without a typed array per buffer: for one vectored system
   * call (memory/io-ranges.ts).
   */
  ranges(length: number, into: GuestIoRanges): number {
    const total = Math.min(length, this.remaining);
    let left = total;
    while (left > 0) {
      const buffer = this.buffers[this.index]!;
      const take = Math.min(left, buffer.len - this.offset);
      into.push(buffer.addr + this.offset, take);
      this.advance(take);
      left -= take;
    }
    return total;
  }

  /** Skips `length` bytes (at most `remaining`). */
  skip(length: number): void {
    this.views(length);
  }

  private advance(count: number): void {
    this.consumed += count;
    this.offset += count;
    while (this.index < this.buffers.length && this.offset >= this.buffers[this.index]!.len) {
      this.offset -= this.buffers[this.index]!.len;
      this.index++;
    }
  }
}

/** Reads the device-readable part of a chain. */
export class ChainReader extends ChainCursor {
  /** Copies exactly `length` bytes; throws ChainLengthError when the chain is shorter. */
  read(length: number): Uint8Array {
    if (length > this.remaining) {
      throw new ChainLengthError(`request needs ${length} readable bytes, the chain has ${this.remaining} left`);
    }
    const out = new Uint8Array(length);
    this.readInto(out);
    return out;
  }

  /** Copies up to `into.length` bytes; returns how many were copied. */
  readInto(into: Uint8Array): number {
    let at = 0;
    for (const view of this.views(into.length)) {
      into.set(view, at);
      at += view.length;
    }
    return at;
  }

  /** Copies everything left. */
  readAll(): Uint8Array {
    return this.read(this.remaining);
  }
}

/** Writes the device-writable part of a chain. */
export class ChainWriter extends ChainCursor {
  /** Writes all of `data`; throws ChainLengthError when the buffers are too small. */
  write(data: Uint8Array): void {
    if (data.length > this.remaining) {
      throw new ChainLengthError(`reply of ${data.length} bytes does not fit the ${this.remaining} writable bytes left`);
    }
    this.writeSome(data);
  }

  /** Writes as much of `data` as fits; returns how many bytes were written. */
  writeSome(data: Uint8Array): number {
    let at = 0;
    for (const view of this.views(data.length)) {
      view.set(data.subarray(at, at + view.length));
      at += view.length;
    }
    return at;
  }

  /** Fills the next `length` bytes (at most `remaining`) with `fillFn(view)`, e.g. an entropy source. */
  fillWith(length: number, fillFn: (view: Uint8Array) => void): number {
    let written = 0;
    for (const view of this.views(length)) {
      fillFn(view);
      written += view.length;
    }
    return written;
  }
}
