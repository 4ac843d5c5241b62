/**
 * Fuzz target `virtqueue`: random and mutated split-virtqueue memory against
 * Virtqueue (activate, pop, pushUsed, needsNotification, restore with
 * arbitrary indices). Properties: only typed guest errors escape; every
 * buffer of a popped chain lies inside guest RAM; the device never touches
 * memory outside RAM; work per iteration is bounded.
 */
import { RegionGuestMemory } from '../../../src/memory/guest-memory.js';
import { Virtqueue } from '../../../src/devices/virtio/queue/queue.js';
import { VirtqDesc, VirtqDescFlags } from '../../../src/devices/virtio/queue/layout.js';
import { GuestAllocator, MockDriverQueue, type MockBuffer } from '../../../src/devices/virtio/queue/mock-driver.js';
import { ChainReader, ChainWriter } from '../../../src/devices/virtio/queue/chain.js';
import { FuzzPropertyError, GuardedMemory, corrupt, type FuzzRandom, type FuzzTarget } from '../harness.js';

const LOW_SIZE = 0x10000;
const HIGH_START = 0x20000;
const HIGH_SIZE = 0x8000;

function randomAddress(random: FuzzRandom): number {
  switch (random.int(6)) {
    case 0:
      return random.int(LOW_SIZE);
    case 1:
      return HIGH_START + random.int(HIGH_SIZE);
    case 2:
      return LOW_SIZE - random.int(32); // straddles the end of the low region
    case 3:
      return random.u32();
    case 4:
      return random.u32() * 0x1_0000_0000 + random.u32(); // beyond 2^53 too
    default:
      return random.int(LOW_SIZE) & ~0xf;
  }
}

function randomBuffers(random: FuzzRandom): MockBuffer[] {
  const count = 1 + random.int(4);
  const out: MockBuffer[] = [];
  let writable = false;
  for (let i = 0; i < count; i++) {
    writable ||= random.chance(0.4);
    out.push(writable ? { writableLength: random.int(300) } : { data: random.bytes(random.int(300)) });
  }
  return out;
}

export const target: FuzzTarget = {
  name: 'virtqueue',
  description: 'split virtqueue parsing against random and mutated ring memory',
  run(random: FuzzRandom): void {
    const raw = new RegionGuestMemory([
      { gpa: 0, bytes: new Uint8Array(LOW_SIZE) },
      { gpa: HIGH_START, bytes: new Uint8Array(HIGH_SIZE) },
    ]);
    const memory = new GuardedMemory(raw, 200_000);
    const maxSize = 1 << random.int(9); // 1..256
    const queue = new Virtqueue(maxSize);
    const eventIdx = random.chance(0.5);
    try {
      let size = maxSize >> random.int(3) || 1;
      if (random.chance(0.05)) size = random.interestingU16();
      if (random.chance(0.7)) {
        // A well-formed driver, then mutations.
        const ringSize = Math.min(size, maxSize) || 1;
        const driver = new MockDriverQueue(raw, isPow2(ringSize) ? ringSize : 1, new GuestAllocator(0x100, LOW_SIZE));
        const chains = random.int(driver.size + 1);
        for (let i = 0; i < chains; i++) {
          const buffers = randomBuffers(random);
          if (random.chance(0.3) && driver.freeDescriptors >= 1) driver.addIndirectChain(buffers);
          else if (driver.freeDescriptors >= buffers.length) driver.addChain(buffers);
        }
        queue.size = driver.size;
        queue.descTable = driver.descTable;
        queue.availRing = driver.availRing;
        queue.usedRing = driver.usedRing;
        if (random.chance(0.5)) corrupt(raw, random, 0x100, 0x100 + driver.size * 40 + 64, 1 + random.int(8));
        if (random.chance(0.3)) corrupt(raw, random, 0, LOW_SIZE, 1 + random.int(16));
      } else {
        // Random descriptors with boundary-heavy fields.
        queue.size = size;
        queue.descTable = random.chance(0.9) ? 0x1000 : randomAddress(random);
        queue.availRing = random.chance(0.9) ? 0x3000 : randomAddress(random);
        queue.usedRing = random.chance(0.9) ? 0x4000 : randomAddress(random);
        const entries = Math.min(size, 256);
        for (let i = 0; i < entries && raw.contains(queue.descTable + i * VirtqDesc.SIZE, VirtqDesc.SIZE); i++) {
          const base = queue.descTable + i * VirtqDesc.SIZE;
          const flags = random.int(8) | (random.chance(0.05) ? random.int(0x10000) : 0);
          const addr = flags & VirtqDescFlags.INDIRECT && random.chance(0.5) ? 0x1000 + random.int(16) * 16 : randomAddress(random);
          raw.writeU64(base + VirtqDesc.ADDR, BigInt.asUintN(64, BigInt(Math.floor(addr))));
          raw.writeU32(base + VirtqDesc.LEN, random.chance(0.5) ? random.int(512) : random.interestingU32());
          raw.writeU16(base + VirtqDesc.FLAGS, flags & 0xffff);
          raw.writeU16(base + VirtqDesc.NEXT, random.chance(0.7) ? random.int(entries) : random.interestingU16());
        }
        if (raw.contains(queue.availRing, 4 + 2 * entries)) {
          raw.writeU16(queue.availRing + 2, random.interestingU16());
          for (let i = 0; i < entries; i++) raw.writeU16(queue.availRing + 4 + 2 * i, random.chance(0.8) ? random.int(entries) : random.interestingU16());
        }
      }
      if (random.chance(0.3)) {
        const start = random.interestingU16();
        queue.restore({ ...queue.save(), nextAvail: start, nextUsed: random.chance(0.5) ? start : random.interestingU16() });
        if (raw.contains(queue.availRing + 2, 2)) raw.writeU16(queue.availRing + 2, (start + random.int(maxSize + 2)) & 0xffff);
      }
      queue.ready = true;
      queue.activate(memory, eventIdx);
      for (let step = 0; step < 3 * maxSize + 4; step++) {
        const chain = queue.pop();
        if (!chain) break;
        for (const b of [...chain.readable, ...chain.writable]) {
          if (!raw.contains(b.addr, b.len)) throw new FuzzPropertyError(`popped buffer 0x${b.addr.toString(16)}+${b.len} outside RAM`);
        }
        new ChainReader(memory, chain.readable).readAll();
        const writer = new ChainWriter(memory, chain.writable);
        writer.fillWith(writer.remaining, (v) => v.fill(0x5a));
        if (random.chance(0.1)) queue.undoPop();
        else if (random.chance(0.2)) queue.pushUsedBatch([{ head: chain.head, len: writer.position }]);
        else queue.pushUsed(chain.head, writer.position);
        queue.needsNotification();
        if (random.chance(0.05)) corrupt(raw, random, 0, LOW_SIZE, 1 + random.int(4));
      }
    } finally {
      memory.assertClean();
    }
  },
};

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
