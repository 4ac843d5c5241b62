/**
 * Fuzz target: virtio-blk against a hostile driver. Random (often malformed)
 * request chains and corrupted rings; properties:
 *   - only typed guest errors escape processQueue (then DEVICE_NEEDS_RESET);
 *   - no guest-memory access outside RAM, no unbounded loop;
 *   - the backend is never asked for a range outside the disk;
 *   - every completed chain's used length fits its writable buffers and its
 *     status byte is OK / IOERR / UNSUPP;
 *   - data written by a successful OUT reads back from a successful IN.
 */
import { RegionGuestMemory } from '../../../src/memory/guest-memory.js';
import { GuestAllocator, MockDriverQueue, type MockBuffer } from '../../../src/devices/virtio/queue/mock-driver.js';
import { Virtqueue } from '../../../src/devices/virtio/queue/queue.js';
import type { DiskBackend, DiskFileIdentity } from '../../../src/devices/virtio/block/backend.js';
import { VirtioBlockDevice } from '../../../src/devices/virtio/block/device.js';
import { BlockRequestType, BlockStatus } from '../../../src/devices/virtio/block/layout.js';
import { CORE_FEATURES } from '../../../src/devices/virtio/constants.js';
import { FuzzPropertyError, GuardedMemory, corrupt, type FuzzRandom, type FuzzTarget } from '../harness.js';

const MEM = 512 * 1024;
const QUEUE_SIZE = 16;

/** An in-memory disk that treats any out-of-range call as a device bug. */
class CheckedMemoryDisk implements DiskBackend {
  readonly bytes: Uint8Array;
  readonly supportsDiscard = true;
  readonly supportsWriteZeroes = true;
  constructor(size: number, readonly readonly: boolean) {
    this.bytes = new Uint8Array(size);
  }
  get sizeBytes(): number {
    return this.bytes.length;
  }
  private check(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new FuzzPropertyError(`device asked the backend to ${what} ${offset}+${length} outside a ${this.bytes.length}-byte disk`);
    }
    if (this.readonly && what !== 'read') throw new FuzzPropertyError(`device asked a read-only backend to ${what}`);
  }
  read(offset: number, into: Uint8Array): void {
    this.check('read', offset, into.length);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  write(offset: number, from: Uint8Array): void {
    this.check('write', offset, from.length);
    this.bytes.set(from, offset);
  }
  flush(): void {}
  discard(offset: number, length: number): void {
    this.check('discard', offset, length);
  }
  writeZeroes(offset: number, length: number): void {
    this.check('write-zeroes', offset, length);
    this.bytes.fill(0, offset, offset + length);
  }
  identity(): DiskFileIdentity[] {
    return [];
  }
  close(): void {}
}

const TYPES = [BlockRequestType.IN, BlockRequestType.OUT, BlockRequestType.FLUSH, BlockRequestType.GET_ID,
  BlockRequestType.DISCARD, BlockRequestType.WRITE_ZEROES, BlockRequestType.GET_LIFETIME, 99, 0xffffffff];

function header(random: FuzzRandom, type: number, sectors: number): Uint8Array {
  const h = new Uint8Array(random.chance(0.1) ? random.int(20) : 16);
  const v = new DataView(h.buffer);
  if (h.length >= 4) v.setUint32(0, type, true);
  if (h.length >= 16) {
    const sector = random.chance(0.8) ? BigInt(random.int(sectors + 4)) : BigInt(random.interestingU32()) << BigInt(random.int(33));
    v.setBigUint64(8, BigInt.asUintN(64, sector), true);
  }
  return h;
}

function segments(random: FuzzRandom, sectors: number): Uint8Array {
  const count = random.chance(0.1) ? random.int(40) : 1 + random.int(3);
  const out = new Uint8Array(count * 16 + (random.chance(0.05) ? random.int(16) : 0));
  const v = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    v.setBigUint64(i * 16, BigInt(random.chance(0.8) ? random.int(sectors + 2) : random.interestingU32()), true);
    v.setUint32(i * 16 + 8, random.chance(0.8) ? random.int(16) : random.interestingU32(), true);
    v.setUint32(i * 16 + 12, random.chance(0.8) ? random.int(2) : random.interestingU32(), true);
  }
  return out;
}

function request(random: FuzzRandom, sectors: number): MockBuffer[] {
  const type = random.pick(TYPES);
  const buffers: MockBuffer[] = [{ data: header(random, type, sectors) }];
  const dataLength = () => (random.chance(0.85) ? 512 * (1 + random.int(8)) : random.int(3000));
  if (type === BlockRequestType.OUT || random.chance(0.05)) {
    for (let n = 1 + random.int(3); n > 0; n--) buffers.push({ data: random.bytes(dataLength()) });
  }
  if (type === BlockRequestType.DISCARD || type === BlockRequestType.WRITE_ZEROES) buffers.push({ data: segments(random, sectors) });
  if (type === BlockRequestType.IN || type === BlockRequestType.GET_ID || random.chance(0.05)) {
    for (let n = 1 + random.int(3); n > 0; n--) buffers.push({ writableLength: type === BlockRequestType.GET_ID ? random.int(30) : dataLength() });
  }
  if (random.chance(0.95)) buffers.push({ writableLength: random.chance(0.9) ? 1 : random.int(4) });
  return buffers;
}

export const target: FuzzTarget = {
  name: 'block',
  description: 'virtio-blk requests (malformed headers, ranges, segments, directions) and corrupted rings',
  run(random: FuzzRandom): void {
    const memory = new GuardedMemory(RegionGuestMemory.anonymous(MEM));
    const sectors = random.chance(0.1) ? random.int(4) : 8 + random.int(256);
    const disk = new CheckedMemoryDisk(sectors * 512 + (random.chance(0.1) ? random.int(512) : 0), random.chance(0.2));
    const device = new VirtioBlockDevice({ backend: disk, serial: 'fuzz', numQueues: 1 + random.int(2) });
    const driver = new MockDriverQueue(memory, QUEUE_SIZE, new GuestAllocator(0x1000, MEM));
    const queues = device.queueMaxSizes.map((s) => new Virtqueue(s));
    driver.attach(queues[0]!, random.chance(0.5));
    device.activate({ memory, queues, interrupt: { signalUsed: () => {}, signalConfigChange: () => {} }, features: device.features | CORE_FEATURES });

    // Once the ring is corrupted, chains no longer match what was submitted: only the memory/crash properties hold.
    let corrupted = false;
    for (let round = 0; round < 1 + random.int(4); round++) {
      const submitted = new Map<number, MockBuffer[]>();
      for (let n = 1 + random.int(QUEUE_SIZE / 2); n > 0 && driver.freeDescriptors > 4; n--) {
        const buffers = request(random, sectors);
        if (buffers.length > driver.freeDescriptors) break;
        const head = random.chance(0.3) ? driver.addIndirectChain(buffers) : driver.addChain(buffers);
        submitted.set(head, buffers);
      }
      if (random.chance(0.15)) {
        corrupt(memory, random, driver.descTable, driver.usedRing, 1 + random.int(4));
        corrupted = true;
      }
      device.processQueue(random.chance(0.9) ? 0 : random.int(3));
      memory.assertClean();
      for (const { head, len } of driver.takeUsed()) {
        const buffers = submitted.get(head);
        if (!buffers || corrupted) continue; // a corrupted ring may complete odd heads; the device validated them
        const writable = buffers.reduce((sum, b) => sum + (b.writableLength ?? 0), 0);
        if (len > writable) throw new FuzzPropertyError(`used length ${len} exceeds the ${writable} writable bytes`);
        if (len > 0) {
          const status = driver.readWritten(head, writable)[writable - 1]!;
          const valid: number[] = [BlockStatus.OK, BlockStatus.IOERR, BlockStatus.UNSUPP];
          if (!valid.includes(status)) throw new FuzzPropertyError(`status byte ${status} of head ${head} (used ${len}, writable ${writable})`);
        }
      }
    }
    // A well-formed write then read of the same sectors round-trips.
    if (!device.readonly && sectors >= 2 && !corrupted) {
      const sector = random.int(sectors - 1);
      const payload = random.bytes(1024);
      const out = new Uint8Array(16);
      new DataView(out.buffer).setUint32(0, BlockRequestType.OUT, true);
      new DataView(out.buffer).setBigUint64(8, BigInt(sector), true);
      const inn = out.slice();
      new DataView(inn.buffer).setUint32(0, BlockRequestType.IN, true);
      if (driver.freeDescriptors < 6) return;
      driver.addChain([{ data: out }, { data: payload }, { writableLength: 1 }]);
      const readHead = driver.addChain([{ data: inn }, { writableLength: 1025 }]);
      device.processQueue(0);
      const used = driver.takeUsed().find((u) => u.head === readHead);
      if (!used) return; // the ring was corrupted earlier: the device may have stopped
      const back = driver.readWritten(readHead, 1025);
      if (back[1024] === BlockStatus.OK && !payload.every((b, i) => back[i] === b)) {
        throw new FuzzPropertyError(`read after write of sector ${sector} returned different data`);
      }
    }
  },
};
