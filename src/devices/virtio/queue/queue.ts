/**
 * Device side of a split virtqueue (virtio 1.2 §2.7).
 *
 * The driver is an adversary: every index, address, length and flag read from
 * guest memory is validated, and anything malformed raises VirtqueueError (a
 * typed guest error). The transport catches it, sets DEVICE_NEEDS_RESET
 * (§2.1.2) and stops processing the device. Nothing here loops on guest data
 * without a bound: chains are cut at the queue size, indirect tables at
 * MAX_INDIRECT_ENTRIES.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { MAX_QUEUE_SIZE, VirtqAvail, VirtqDesc, VirtqDescFlags, VirtqUsed } from './layout.js';

export type VirtqueueErrorCode =
  | 'bad-size'
  | 'bad-alignment'
  | 'ring-outside-memory'
  | 'not-ready'
  | 'avail-index-jump'
  | 'head-out-of-range'
  | 'next-out-of-range'
  | 'chain-too-long'
  | 'nested-indirect'
  | 'indirect-with-next'
  | 'bad-indirect-length'
  | 'buffer-outside-memory'
  | 'readable-after-writable'
  | 'used-head-invalid';

/** A guest-caused virtqueue error: the device must be marked DEVICE_NEEDS_RESET. */
export class VirtqueueError extends Error {
  constructor(
    readonly code: VirtqueueErrorCode,
    message: string,
  ) {
    super(`virtqueue: ${message}`);
    this.name = 'VirtqueueError';
  }
}

/** One guest buffer of a descriptor chain, validated to lie inside guest RAM. */
export interface GuestBuffer {
  readonly addr: number;
  readonly len: number;
}

/**
 * A descriptor chain popped from the available ring: the device reads the
 * readable buffers (driver -> device) and writes the writable ones, then
 * returns `head` with Virtqueue.pushUsed(head, bytesWritten).
 */
export interface DescriptorChain {
  readonly head: number;
  readonly readable: GuestBuffer[];
  readonly writable: GuestBuffer[];
  readonly readableLength: number;
  readonly writableLength: number;
}

/** Persisted queue state (snapshot / migration). Addresses are plain numbers (< 2^53). */
export interface VirtqueueStateV1 {
  version: 1;
  maxSize: number;
  size: number;
  ready: boolean;
  descTable: number;
  availRing: number;
  usedRing: number;
  nextAvail: number;
  nextUsed: number;
  signalledUsed: number | null;
  eventIdx: boolean;
  msixVector: number;
}

/** Bound on entries in one indirect table (a 32-bit length would otherwise allow 2^28). */
export const MAX_INDIRECT_ENTRIES = MAX_QUEUE_SIZE;

const TWO_POW_32 = 0x1_0000_0000;

export class Virtqueue {
  /** Queue size chosen by the driver (queue_size); defaults to the maximum. */
  size: number;
  /** queue_enable (§4.1.4.3): set by the driver once the addresses are written. */
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;
  /** MSI-X vector for used-buffer notifications, or VIRTIO_MSI_NO_VECTOR. */
  msixVector = 0xffff;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx = false;

  private nextAvail = 0;
  private nextUsed = 0;
  /** Used idx at the last notification decision; null = unknown (always notify next time). */
  private signalledUsed: number | null = null;
  private memory: GuestMemory | null = null;
  /** Views of the three ring areas, validated once at activation (the hot path skips per-access lookups). */
  private descView: DataView | null = null;
  private availView: DataView | null = null;
  private usedView: DataView | null = null;
  private usedIdxAtomic: Uint16Array | null = null;
  private availEventAtomic: Uint16Array | null = null;

  constructor(readonly maxSize: number) {
    if (!isPowerOfTwo(maxSize) || maxSize > MAX_QUEUE_SIZE) {
      throw new RangeError(`virtqueue max size ${maxSize} must be a power of two <= ${MAX_QUEUE_SIZE}`);
    }
    this.size = maxSize;
  }

  /** Next available-ring index the device will consume (free-running 16-bit). */
  get lastAvailIndex(): number {
    return this.nextAvail;
  }

  /** Next used-ring index the device will fill (free-running 16-bit). */
  get lastUsedIndex(): number {
    return this.nextUsed;
  }

  get isActive(): boolean {
    return this.memory !== null;
  }

  /**
   * Validates the driver's configuration and binds the queue to guest memory
   * (on DRIVER_OK, or on restore). Throws VirtqueueError when the size or the
   * ring addresses are invalid.
   */
  activate(memory: GuestMemory, eventIdx: boolean): void {
    if (!this.ready) throw new VirtqueueError('not-ready', 'queue is not enabled');
    const size = this.size;
    if (!isPowerOfTwo(size) || size > this.maxSize) {
      throw new VirtqueueError('bad-size', `queue size ${size} is not a power of two <= ${this.maxSize}`);
    }
    checkRing('descriptor table', this.descTable, size * VirtqDesc.SIZE, VirtqDesc.ALIGN, memory);
    checkRing('available ring', this.availRing, VirtqAvail.byteSize(size), VirtqAvail.ALIGN, memory);
    checkRing('used ring', this.usedRing, VirtqUsed.byteSize(size), VirtqUsed.ALIGN, memory);
    this.memory = memory;
    this.eventIdx = eventIdx;
    this.descView = viewOf(memory, this.descTable, size * VirtqDesc.SIZE);
    this.availView = viewOf(memory, this.availRing, VirtqAvail.byteSize(size));
    this.usedView = viewOf(memory, this.usedRing, VirtqUsed.byteSize(size));
    this.usedIdxAtomic = atomicU16(memory, this.usedRing + VirtqUsed.IDX);
    this.availEventAtomic = eventIdx ? atomicU16(memory, this.usedRing + VirtqUsed.availEventOffset(size)) : null;
  }

  /** Back to the reset state (§4.1.4.3: queue_enable 0, size = max, addresses 0). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = 0;
    this.availRing = 0;
    this.usedRing = 0;
    this.msixVector = 0xffff;
    this.eventIdx = false;
    this.nextAvail = 0;
    this.nextUsed = 0;
    this.signalledUsed = null;
    this.memory = null;
    this.descView = null;
    this.availView = null;
    this.usedView = null;
    this.usedIdxAtomic = null;
    this.availEventAtomic = null;
  }

  private mem(): GuestMemory {
    const memory = this.memory;
    if (!memory) throw new VirtqueueError('not-ready', 'queue used before activation');
    return memory;
  }

  private views(): [DataView, DataView, DataView] {
    const { descView, availView, usedView } = this;
    if (!descView || !availView || !usedView) throw new VirtqueueError('not-ready', 'queue used before activation');
    return [descView, availView, usedView];
  }

  /** Number of chains the driver has made available and the device not yet popped. */
  pending(): number {
    const availIdx = this.views()[1].getUint16(VirtqAvail.IDX, true);
    const pending = (availIdx - this.nextAvail) & 0xffff;
    if (pending > this.size) {
      throw new VirtqueueError(
        'avail-index-jump',
        `avail idx ${availIdx} is ${pending} ahead of the device (queue size ${this.size})`,
      );
    }
    return pending;
  }

  /**
   * Pops the next available chain, or returns null when the ring is empty.
   * When the ring is empty and EVENT_IDX is on, publishes avail_event so the
   * driver notifies on its next addition, then re-checks (closing the race
   * where the driver added a chain in between).
   */
  pop(): DescriptorChain | null {
    if (this.pending() === 0) {
      if (!this.eventIdx) return null;
      this.publishAvailEvent();
      if (this.pending() === 0) return null;
    }
    const [descView, availView] = this.views();
    const slot = this.nextAvail & (this.size - 1);
    const head = availView.getUint16(VirtqAvail.RING + slot * VirtqAvail.ENTRY_SIZE, true);
    const chain = this.readChain(this.mem(), descView, head);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    return chain;
  }

  /** Gives back the last `count` popped chains (e.g. net rx found no frame to put in them). */
  undoPop(count = 1): void {
    this.nextAvail = (this.nextAvail - count) & 0xffff;
  }

  private readChain(memory: GuestMemory, descView: DataView, head: number): DescriptorChain {
    const size = this.size;
    if (head >= size) throw new VirtqueueError('head-out-of-range', `chain head ${head} >= queue size ${size}`);
    const readable: GuestBuffer[] = [];
    const writable: GuestBuffer[] = [];
    const totals = { readable: 0, writable: 0 };
    let table = descView;
    let tableEntries = size;
    let index = head;
    let visited = 0;
    let inIndirect = false;
    for (;;) {
      if (++visited > tableEntries) {
        throw new VirtqueueError('chain-too-long', `descriptor chain from head ${head} exceeds ${tableEntries} entries (cycle?)`);
      }
      const base = index * VirtqDesc.SIZE;
      const addr = readAddress(table, base + VirtqDesc.ADDR);
      const len = table.getUint32(base + VirtqDesc.LEN, true);
      const flags = table.getUint16(base + VirtqDesc.FLAGS, true);
      const next = table.getUint16(base + VirtqDesc.NEXT, true);
      if (flags & VirtqDescFlags.INDIRECT) {
        // §2.7.5.3.1: no nested indirect tables, and INDIRECT together with NEXT is invalid.
        if (inIndirect) throw new VirtqueueError('nested-indirect', `nested indirect descriptor in chain ${head}`);
        if (flags & VirtqDescFlags.NEXT) {
          throw new VirtqueueError('indirect-with-next', `indirect descriptor with NEXT in chain ${head}`);
        }
        if (len === 0 || len % VirtqDesc.SIZE !== 0 || len / VirtqDesc.SIZE > MAX_INDIRECT_ENTRIES) {
          throw new VirtqueueError('bad-indirect-length', `indirect table length ${len} in chain ${head}`);
        }
        if (addr === null || !memory.contains(addr, len)) {
          throw new VirtqueueError('buffer-outside-memory', `indirect table outside guest RAM in chain ${head}`);
        }
        inIndirect = true;
        table = viewOf(memory, addr, len);
        tableEntries = len / VirtqDesc.SIZE;
        index = 0;
        visited = 0;
        continue;
      }
      if (len > 0) {
        if (addr === null || !memory.contains(addr, len)) {
          throw new VirtqueueError(
            'buffer-outside-memory',
            `buffer ${addr === null ? 'beyond 2^53' : `0x${addr.toString(16)}`}+${len} outside guest RAM in chain ${head}`,
          );
        }
        if (flags & VirtqDescFlags.WRITE) {
          writable.push({ addr, len });
          totals.writable += len;
        } else {
          // §2.7.4.2: all device-readable descriptors come before the device-writable ones.
          if (writable.length > 0) {
            throw new VirtqueueError('readable-after-writable', `readable buffer after a writable one in chain ${head}`);
          }
          readable.push({ addr, len });
          totals.readable += len;
        }
      }
      if (!(flags & VirtqDescFlags.NEXT)) break;
      if (next >= tableEntries) {
        throw new VirtqueueError('next-out-of-range', `descriptor next ${next} >= ${tableEntries} in chain ${head}`);
      }
      index = next;
    }
    return { head, readable, writable, readableLength: totals.readable, writableLength: totals.writable };
  }

  /** Returns a chain to the driver with `writtenLength` bytes written into its writable buffers (§2.7.8). */
  pushUsed(head: number, writtenLength: number): void {
    const usedView = this.views()[2];
    if (!Number.isInteger(head) || head < 0 || head >= this.size) {
      throw new VirtqueueError('used-head-invalid', `device returned head ${head} outside queue size ${this.size}`);
    }
    const slot = this.nextUsed & (this.size - 1);
    const entry = VirtqUsed.RING + slot * VirtqUsed.ENTRY_SIZE;
    usedView.setUint32(entry + VirtqUsed.ENTRY_ID, head, true);
    usedView.setUint32(entry + VirtqUsed.ENTRY_LEN, writtenLength >>> 0, true);
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    // The ring entry must be visible before the index (§2.7.13 step 3). A
    // sequentially consistent store is also the full barrier that orders it
    // before the used_event load in needsNotification().
    this.storeU16(this.usedIdxAtomic, this.usedRing + VirtqUsed.IDX, this.nextUsed);
  }

  /**
   * Returns several chains with one used-idx update, so the driver sees all
   * of them at once (net rx with MRG_RXBUF: a frame spread over buffers).
   */
  pushUsedBatch(elements: ReadonlyArray<{ readonly head: number; readonly len: number }>): void {
    const usedView = this.views()[2];
    let next = this.nextUsed;
    for (const { head } of elements) {
      if (!Number.isInteger(head) || head < 0 || head >= this.size) {
        throw new VirtqueueError('used-head-invalid', `device returned head ${head} outside queue size ${this.size}`);
      }
    }
    for (const { head, len } of elements) {
      const entry = VirtqUsed.RING + (next & (this.size - 1)) * VirtqUsed.ENTRY_SIZE;
      usedView.setUint32(entry + VirtqUsed.ENTRY_ID, head, true);
      usedView.setUint32(entry + VirtqUsed.ENTRY_LEN, len >>> 0, true);
      next = (next + 1) & 0xffff;
    }
    this.nextUsed = next;
    this.storeU16(this.usedIdxAtomic, this.usedRing + VirtqUsed.IDX, next);
  }

  /**
   * Whether the driver wants a used-buffer notification for what was pushed
   * since the last call (§2.7.10: VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
   */
  needsNotification(): boolean {
    const availView = this.views()[1];
    const newUsed = this.nextUsed;
    const old = this.signalledUsed;
    this.signalledUsed = newUsed;
    if (old === newUsed) return false;
    if (this.eventIdx) {
      if (old === null) return true;
      const usedEvent = availView.getUint16(VirtqAvail.usedEventOffset(this.size), true);
      // vring_need_event(): notify if used_event lies in (old, new].
      return ((newUsed - usedEvent - 1) & 0xffff) < ((newUsed - old) & 0xffff);
    }
    return (availView.getUint16(VirtqAvail.FLAGS, true) & VirtqAvail.F_NO_INTERRUPT) === 0;
  }

  private publishAvailEvent(): void {
    this.storeU16(this.availEventAtomic, this.usedRing + VirtqUsed.availEventOffset(this.size), this.nextAvail);
  }

  private storeU16(atomic: Uint16Array | null, gpa: number, value: number): void {
    if (atomic) Atomics.store(atomic, 0, value);
    else this.mem().writeU16(gpa, value);
  }

  save(): VirtqueueStateV1 {
    return {
      version: 1,
      maxSize: this.maxSize,
      size: this.size,
      ready: this.ready,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      nextAvail: this.nextAvail,
      nextUsed: this.nextUsed,
      signalledUsed: this.signalledUsed,
      eventIdx: this.eventIdx,
      msixVector: this.msixVector,
    };
  }

  /**
   * Restores configuration and indices. The queue stays inactive until
   * activate() is called again (the transport does it when DRIVER_OK was set).
   */
  restore(state: VirtqueueStateV1): void {
    if (state.version !== 1) throw new Error(`virtqueue state version ${String(state.version)} is not supported`);
    // A device that offers more slots than when the snapshot was taken (virtio-blk went from 256 to 512) still takes
    // the driver's queue: the driver chose its size against the smaller maximum and keeps it. The size itself is
    // the driver's to get right, checked by activate() like any driver-written size.
    if (state.maxSize > this.maxSize) {
      throw new Error(`virtqueue state has max size ${state.maxSize}; this queue takes at most ${this.maxSize}`);
    }
    this.reset();
    this.size = state.size;
    this.ready = state.ready;
    this.descTable = state.descTable;
    this.availRing = state.availRing;
    this.usedRing = state.usedRing;
    this.nextAvail = state.nextAvail & 0xffff;
    this.nextUsed = state.nextUsed & 0xffff;
    this.signalledUsed = state.signalledUsed;
    this.eventIdx = state.eventIdx;
    this.msixVector = state.msixVector;
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function checkRing(what: string, gpa: number, length: number, align: number, memory: GuestMemory): void {
  if (gpa % align !== 0) {
    throw new VirtqueueError('bad-alignment', `${what} at 0x${gpa.toString(16)} is not ${align}-byte aligned`);
  }
  if (!memory.contains(gpa, length)) {
    throw new VirtqueueError('ring-outside-memory', `${what} 0x${gpa.toString(16)}+${length} is outside guest RAM`);
  }
}

/** A le64 guest address as a number, or null when it cannot be a RAM address (>= 2^53). */
function readAddress(table: DataView, offset: number): number | null {
  const low = table.getUint32(offset, true);
  const high = table.getUint32(offset + 4, true);
  if (high >= 0x20_0000) return null;
  return high * TWO_POW_32 + low;
}

/** A DataView over [gpa, gpa+length), which must lie in one RAM region (checked by the caller). */
function viewOf(memory: GuestMemory, gpa: number, length: number): DataView {
  const bytes = memory.slice(gpa, length);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A one-element Uint16Array over guest memory for Atomics, when the host address is 2-byte aligned. */
function atomicU16(memory: GuestMemory, gpa: number): Uint16Array | null {
  const bytes = memory.slice(gpa, 2);
  if (bytes.byteOffset % 2 !== 0) return null;
  return new Uint16Array(bytes.buffer, bytes.byteOffset, 1);
}
