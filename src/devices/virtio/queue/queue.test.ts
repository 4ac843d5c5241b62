import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
import { VirtqDescFlags } from './layout.js';
import { GuestAllocator, MockDriverQueue } from './mock-driver.js';
import { Virtqueue, VirtqueueError } from './queue.js';
import { ChainReader, ChainWriter } from './chain.js';

const MEM = 1 << 20;

function setup(size = 8, eventIdx = false) {
  const memory = RegionGuestMemory.anonymous(MEM);
  const driver = new MockDriverQueue(memory, size, new GuestAllocator(0x1000, MEM));
  const queue = new Virtqueue(256);
  driver.attach(queue, eventIdx);
  return { memory, driver, queue };
}

function expectError(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof VirtqueueError && e.code === code);
}

test('pops a chain with readable then writable buffers and pushes it used', () => {
  const { memory, driver, queue } = setup();
  const head = driver.addChain([{ data: Uint8Array.of(1, 2, 3) }, { data: Uint8Array.of(4) }, { writableLength: 10 }]);
  const chain = queue.pop();
  assert.ok(chain);
  assert.equal(chain.head, head);
  assert.equal(chain.readable.length, 2);
  assert.equal(chain.readableLength, 4);
  assert.equal(chain.writableLength, 10);
  assert.deepEqual([...new ChainReader(memory, chain.readable).readAll()], [1, 2, 3, 4]);
  const w = new ChainWriter(memory, chain.writable);
  w.write(Uint8Array.of(9, 8, 7));
  queue.pushUsed(chain.head, w.position);
  assert.equal(queue.pop(), null);
  assert.deepEqual(driver.takeUsed(), [{ head, len: 3 }]);
  assert.deepEqual([...driver.readWritten(head, 3)], [9, 8, 7]);
});

test('flattens indirect chains', () => {
  const { memory, driver, queue } = setup();
  const head = driver.addIndirectChain([{ data: Uint8Array.of(5, 6) }, { writableLength: 4 }, { writableLength: 4 }]);
  const chain = queue.pop()!;
  assert.equal(chain.head, head);
  assert.deepEqual([...new ChainReader(memory, chain.readable).readAll()], [5, 6]);
  assert.equal(chain.writable.length, 2);
  const w = new ChainWriter(memory, chain.writable);
  w.write(Uint8Array.of(1, 2, 3, 4, 5, 6));
  assert.equal(w.remaining, 2);
  queue.pushUsed(head, 6);
  assert.deepEqual([...driver.readWritten(head, 6)], [1, 2, 3, 4, 5, 6]);
});

test('avail and used indices wrap around at 65535', () => {
  const { driver, queue } = setup(4);
  queue.restore({ ...queue.save(), nextAvail: 65534, nextUsed: 65534 });
  queue.activate(driver.memory, false);
  driver.setAvailIndex(65534);
  driver.setUsedSeen(65534);
  for (let round = 0; round < 3; round++) {
    const heads = [driver.addChain([{ writableLength: 1 }]), driver.addChain([{ writableLength: 1 }])];
    for (const h of heads) {
      const c = queue.pop()!;
      assert.equal(c.head, h);
      queue.pushUsed(c.head, 1);
    }
    assert.equal(queue.pop(), null);
    assert.deepEqual(driver.takeUsed().map((u) => u.head), heads);
  }
  assert.equal(queue.lastAvailIndex, 4);
  assert.equal(queue.lastUsedIndex, 4);
});

test('VIRTQ_AVAIL_F_NO_INTERRUPT suppresses notifications', () => {
  const { driver, queue } = setup();
  driver.addChain([{ writableLength: 1 }]);
  queue.pushUsed(queue.pop()!.head, 0);
  assert.equal(queue.needsNotification(), true);
  assert.equal(queue.needsNotification(), false, 'nothing new since the last decision');
  driver.setNoInterrupt(true);
  driver.addChain([{ writableLength: 1 }]);
  queue.pushUsed(queue.pop()!.head, 0);
  assert.equal(queue.needsNotification(), false);
});

test('EVENT_IDX: used_event decides notifications and avail_event is published when drained', () => {
  const { driver, queue } = setup(8, true);
  for (let i = 0; i < 3; i++) driver.addChain([{ writableLength: 1 }]);
  driver.setUsedEvent(1); // notify once used idx passes 1 (i.e. reaches 2)
  queue.pushUsed(queue.pop()!.head, 0); // used idx 1
  assert.equal(queue.needsNotification(), true, 'first decision after activation always notifies');
  queue.pushUsed(queue.pop()!.head, 0); // used idx 2: crosses used_event 1
  assert.equal(queue.needsNotification(), true);
  queue.pushUsed(queue.pop()!.head, 0); // used idx 3: used_event still 1
  assert.equal(queue.needsNotification(), false);
  assert.equal(queue.pop(), null);
  assert.equal(driver.availEvent(), 3, 'avail_event = next avail index once drained');
});

test('restore keeps indices; pending counts available chains', () => {
  const { driver, queue } = setup();
  driver.addChain([{ writableLength: 1 }]);
  driver.addChain([{ writableLength: 1 }]);
  queue.pop();
  const state = JSON.parse(JSON.stringify(queue.save()));
  const copy = new Virtqueue(256);
  copy.restore(state);
  copy.activate(driver.memory, false);
  assert.equal(copy.pending(), 1);
  assert.equal(copy.pop()!.head, 1);
  copy.undoPop();
  assert.equal(copy.pending(), 1);
});

test('a queue restores into a device that now offers more slots, not into one that offers fewer', () => {
  const { driver, queue } = setup();
  driver.addChain([{ writableLength: 1 }]);
  const state = queue.save();
  const bigger = new Virtqueue(state.maxSize * 2);
  bigger.restore(state);
  bigger.activate(driver.memory, false);
  assert.equal(bigger.size, state.size);
  assert.equal(bigger.pop()!.head, 0);
  const smaller = new Virtqueue(state.maxSize / 2);
  assert.throws(() => smaller.restore(state), /takes at most/);
});

test('rejects invalid configuration at activation', () => {
  const memory = RegionGuestMemory.anonymous(MEM);
  const q = new Virtqueue(256);
  expectError(() => q.activate(memory, false), 'not-ready');
  q.ready = true;
  q.size = 3;
  expectError(() => q.activate(memory, false), 'bad-size');
  q.size = 512;
  expectError(() => q.activate(memory, false), 'bad-size');
  q.size = 16;
  q.descTable = 8;
  expectError(() => q.activate(memory, false), 'bad-alignment');
  q.descTable = MEM - 16;
  expectError(() => q.activate(memory, false), 'ring-outside-memory');
  assert.throws(() => new Virtqueue(100), RangeError);
});

test('malformed chains raise typed errors', async (t) => {
  const cases: Array<[string, (d: MockDriverQueue) => void]> = [
    ['avail-index-jump', (d) => d.setAvailIndex(9)],
    ['head-out-of-range', (d) => d.publish(8)],
    ['next-out-of-range', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x8000, 4, VirtqDescFlags.NEXT, 200);
      d.publish(0);
    }],
    ['chain-too-long', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x8000, 4, VirtqDescFlags.NEXT, 1);
      d.writeDescriptor(d.descTable, 1, 0x8000, 4, VirtqDescFlags.NEXT, 0);
      d.publish(0);
    }],
    ['buffer-outside-memory', (d) => {
      d.writeDescriptor(d.descTable, 0, MEM - 2, 4, 0, 0);
      d.publish(0);
    }],
    ['buffer-outside-memory', (d) => {
      d.writeDescriptor(d.descTable, 0, 2 ** 60, 4, 0, 0);
      d.publish(0);
    }],
    ['readable-after-writable', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x8000, 4, VirtqDescFlags.WRITE | VirtqDescFlags.NEXT, 1);
      d.writeDescriptor(d.descTable, 1, 0x8000, 4, 0, 0);
      d.publish(0);
    }],
    ['indirect-with-next', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x9000, 32, VirtqDescFlags.INDIRECT | VirtqDescFlags.NEXT, 1);
      d.publish(0);
    }],
    ['bad-indirect-length', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x9000, 20, VirtqDescFlags.INDIRECT, 0);
      d.publish(0);
    }],
    ['bad-indirect-length', (d) => {
      d.writeDescriptor(d.descTable, 0, 0x9000, 0xfffffff0, VirtqDescFlags.INDIRECT, 0);
      d.publish(0);
    }],
    ['nested-indirect', (d) => {
      d.writeDescriptor(0x9000, 0, 0x9100, 16, VirtqDescFlags.INDIRECT, 0);
      d.writeDescriptor(d.descTable, 0, 0x9000, 16, VirtqDescFlags.INDIRECT, 0);
      d.publish(0);
    }],
    ['chain-too-long', (d) => {
      d.writeDescriptor(0x9000, 0, 0x8000, 4, VirtqDescFlags.NEXT, 1);
      d.writeDescriptor(0x9000, 1, 0x8000, 4, VirtqDescFlags.NEXT, 0);
      d.writeDescriptor(d.descTable, 0, 0x9000, 32, VirtqDescFlags.INDIRECT, 0);
      d.publish(0);
    }],
    ['next-out-of-range', (d) => {
      d.writeDescriptor(0x9000, 0, 0x8000, 4, VirtqDescFlags.NEXT, 2);
      d.writeDescriptor(d.descTable, 0, 0x9000, 32, VirtqDescFlags.INDIRECT, 0);
      d.publish(0);
    }],
  ];
  for (const [code, corrupt] of cases) {
    await t.test(code, () => {
      const { driver, queue } = setup();
      corrupt(driver);
      expectError(() => queue.pop(), code);
    });
  }
  const { queue } = setup();
  expectError(() => queue.pushUsed(8, 0), 'used-head-invalid');
});

test('pushUsedBatch publishes several elements with one index update', () => {
  const { driver, queue } = setup();
  const a = driver.addChain([{ writableLength: 4 }]);
  const b = driver.addChain([{ writableLength: 4 }]);
  queue.pop();
  queue.pop();
  queue.pushUsedBatch([
    { head: a, len: 4 },
    { head: b, len: 2 },
  ]);
  assert.deepEqual(driver.takeUsed(), [
    { head: a, len: 4 },
    { head: b, len: 2 },
  ]);
  expectError(() => queue.pushUsedBatch([{ head: 99, len: 0 }]), 'used-head-invalid');
});
