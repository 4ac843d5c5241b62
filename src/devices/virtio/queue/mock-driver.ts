/**
 * A minimal driver side of a split virtqueue, for unit tests and fuzzing:
 * lays out the descriptor table, available and used rings in guest memory
 * and adds chains the way Linux's virtio_ring does (§2.7.13).
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { VirtqAvail, VirtqDesc, VirtqDescFlags, VirtqUsed } from './layout.js';
import type { Virtqueue } from './queue.js';

export interface MockBuffer {
  /** Contents for a device-readable buffer, or the length of a device-writable one. */
  readonly data?: Uint8Array;
  readonly writableLength?: number;
}

export interface UsedElement {
  readonly head: number;
  readonly len: number;
}

/** Bump allocator over a window of guest memory for buffers and indirect tables. */
export class GuestAllocator {
  private next: number;
  constructor(
    start: number,
    private readonly end: number,
  ) {
    this.next = start;
  }
  alloc(length: number, align = 16): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + length > this.end) throw new Error(`mock driver: out of guest memory allocating ${length} bytes`);
    this.next = at + length;
    return at;
  }
}

export class MockDriverQueue {
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  private freeCount: number;
  private availIdx = 0;
  private lastUsedSeen = 0;
  /** Descriptors used by each head, returned to the free list when the device uses the chain. */
  private readonly chainDescriptors = new Map<number, number[]>();
  private readonly freeList: number[];

  constructor(
    readonly memory: GuestMemory,
    readonly size: number,
    readonly allocator: GuestAllocator,
  ) {
    this.descTable = allocator.alloc(size * VirtqDesc.SIZE, VirtqDesc.ALIGN);
    this.availRing = allocator.alloc(VirtqAvail.byteSize(size), VirtqAvail.ALIGN);
    this.usedRing = allocator.alloc(VirtqUsed.byteSize(size), VirtqUsed.ALIGN);
    this.freeCount = size;
    this.freeList = Array.from({ length: size }, (_, i) => i);
  }

  /** Programs `queue` with this ring's addresses and size, enables and activates it. */
  attach(queue: Virtqueue, eventIdx = false): void {
    queue.size = this.size;
    queue.descTable = this.descTable;
    queue.availRing = this.availRing;
    queue.usedRing = this.usedRing;
    queue.ready = true;
    queue.activate(this.memory, eventIdx);
  }

  /** Writes one descriptor at `index` of the table at `table`. */
  writeDescriptor(table: number, index: number, addr: number, len: number, flags: number, next: number): void {
    const base = table + index * VirtqDesc.SIZE;
    this.memory.writeU64(base + VirtqDesc.ADDR, BigInt(addr));
    this.memory.writeU32(base + VirtqDesc.LEN, len);
    this.memory.writeU16(base + VirtqDesc.FLAGS, flags);
    this.memory.writeU16(base + VirtqDesc.NEXT, next);
  }

  private takeDescriptor(): number {
    const d = this.freeList.shift();
    if (d === undefined) throw new Error('mock driver: descriptor table full');
    this.freeCount--;
    return d;
  }

  private placeBuffers(buffers: readonly MockBuffer[]): Array<{ addr: number; len: number; flags: number }> {
    return buffers.map((b) => {
      if (b.data) {
        const addr = this.allocator.alloc(Math.max(b.data.length, 1), 8);
        this.memory.write(addr, b.data);
        return { addr, len: b.data.length, flags: 0 };
      }
      const len = b.writableLength ?? 0;
      return { addr: this.allocator.alloc(Math.max(len, 1), 8), len, flags: VirtqDescFlags.WRITE };
    });
  }

  /** Adds a chain of direct descriptors and publishes it. Returns the head index. */
  addChain(buffers: readonly MockBuffer[]): number {
    const placed = this.placeBuffers(buffers);
    const indices = placed.map(() => this.takeDescriptor());
    placed.forEach((p, i) => {
      const last = i === placed.length - 1;
      this.writeDescriptor(this.descTable, indices[i]!, p.addr, p.len, p.flags | (last ? 0 : VirtqDescFlags.NEXT), last ? 0 : indices[i + 1]!);
    });
    const head = indices[0]!;
    this.chainDescriptors.set(head, indices);
    this.publish(head);
    return head;
  }

  /** Adds a chain whose buffers live in one indirect table (§2.7.5.3). Returns the head index. */
  addIndirectChain(buffers: readonly MockBuffer[]): number {
    const placed = this.placeBuffers(buffers);
    const table = this.allocator.alloc(placed.length * VirtqDesc.SIZE, VirtqDesc.ALIGN);
    placed.forEach((p, i) => {
      const last = i === placed.length - 1;
      this.writeDescriptor(table, i, p.addr, p.len, p.flags | (last ? 0 : VirtqDescFlags.NEXT), last ? 0 : i + 1);
    });
    const head = this.takeDescriptor();
    this.writeDescriptor(this.descTable, head, table, placed.length * VirtqDesc.SIZE, VirtqDescFlags.INDIRECT, 0);
    this.chainDescriptors.set(head, [head]);
    this.publish(head);
    return head;
  }

  /** Puts `head` in the next available slot and bumps avail idx. */
  publish(head: number): void {
    const slot = this.availIdx & (this.size - 1);
    this.memory.writeU16(this.availRing + VirtqAvail.RING + slot * VirtqAvail.ENTRY_SIZE, head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.memory.writeU16(this.availRing + VirtqAvail.IDX, this.availIdx);
  }

  /** Sets the free-running avail idx directly (wrap-around tests). Also moves the device's view if given. */
  setAvailIndex(idx: number): void {
    this.availIdx = idx & 0xffff;
    this.memory.writeU16(this.availRing + VirtqAvail.IDX, this.availIdx);
  }

  setUsedSeen(idx: number): void {
    this.lastUsedSeen = idx & 0xffff;
  }

  get availIndex(): number {
    return this.availIdx;
  }

  /** Used elements the device published since the last call; their descriptors are freed. */
  takeUsed(): UsedElement[] {
    const usedIdx = this.memory.readU16(this.usedRing + VirtqUsed.IDX);
    const out: UsedElement[] = [];
    while (this.lastUsedSeen !== usedIdx) {
      const slot = this.lastUsedSeen & (this.size - 1);
      const entry = this.usedRing + VirtqUsed.RING + slot * VirtqUsed.ENTRY_SIZE;
      const head = this.memory.readU32(entry + VirtqUsed.ENTRY_ID);
      out.push({ head, len: this.memory.readU32(entry + VirtqUsed.ENTRY_LEN) });
      for (const d of this.chainDescriptors.get(head) ?? []) {
        this.freeList.push(d);
        this.freeCount++;
      }
      this.chainDescriptors.delete(head);
      this.lastUsedSeen = (this.lastUsedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** Device-writable buffers of a chain, as (addr,len) pairs in order (to read what the device wrote). */
  writableBuffers(head: number): Array<{ addr: number; len: number }> {
    const out: Array<{ addr: number; len: number }> = [];
    let table = this.descTable;
    let index = head;
    for (let guard = 0; guard < 65536; guard++) {
      const base = table + index * VirtqDesc.SIZE;
      const addr = Number(this.memory.readU64(base + VirtqDesc.ADDR));
      const len = this.memory.readU32(base + VirtqDesc.LEN);
      const flags = this.memory.readU16(base + VirtqDesc.FLAGS);
      if (flags & VirtqDescFlags.INDIRECT) {
        table = addr;
        index = 0;
        continue;
      }
      if (flags & VirtqDescFlags.WRITE) out.push({ addr, len });
      if (!(flags & VirtqDescFlags.NEXT)) break;
      index = this.memory.readU16(base + VirtqDesc.NEXT);
    }
    return out;
  }

  /** Concatenated contents of a chain's writable buffers, truncated to `length`. */
  readWritten(head: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let at = 0;
    for (const b of this.writableBuffers(head)) {
      if (at >= length) break;
      const take = Math.min(b.len, length - at);
      out.set(this.memory.slice(b.addr, take), at);
      at += take;
    }
    return out;
  }

  setNoInterrupt(on: boolean): void {
    this.memory.writeU16(this.availRing + VirtqAvail.FLAGS, on ? VirtqAvail.F_NO_INTERRUPT : 0);
  }

  setUsedEvent(idx: number): void {
    this.memory.writeU16(this.availRing + VirtqAvail.usedEventOffset(this.size), idx & 0xffff);
  }

  availEvent(): number {
    return this.memory.readU16(this.usedRing + VirtqUsed.availEventOffset(this.size));
  }

  get freeDescriptors(): number {
    return this.freeCount;
  }
}
