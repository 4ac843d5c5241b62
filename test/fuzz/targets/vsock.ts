/**
 * Fuzz target: virtio-vsock against a hostile driver and erratic host
 * sockets. Random packets (ops, ports, credit numbers, lengths, CIDs), odd rx
 * buffers, corrupted rings, host sockets that stall, fail, close or flood.
 * Properties: only typed guest errors escape; no guest access outside RAM;
 * no socket used after close; the device's connections stay bounded.
 */
import { RegionGuestMemory } from '../../../src/memory/guest-memory.js';
import { GuestAllocator, MockDriverQueue, type MockBuffer } from '../../../src/devices/virtio/queue/mock-driver.js';
import { Virtqueue } from '../../../src/devices/virtio/queue/queue.js';
import { MAX_CONNECTIONS, VirtioVsockDevice } from '../../../src/devices/virtio/vsock/device.js';
import type { VsockHostSockets } from '../../../src/devices/virtio/vsock/host-sockets.js';
import { VsockQueue, encodeVsockHeader } from '../../../src/devices/virtio/vsock/layout.js';
import { FuzzPropertyError, GuardedMemory, corrupt, type FuzzRandom, type FuzzTarget } from '../harness.js';

const MEM = 512 * 1024;

/** Host sockets whose every answer is chosen by the fuzzer. */
class ErraticSockets implements VsockHostSockets {
  private next = 10;
  readonly open = new Set<number>();
  constructor(private readonly random: FuzzRandom) {}
  private use(socket: number): void {
    if (!this.open.has(socket)) throw new FuzzPropertyError(`device used socket ${socket}, which is not open`);
  }
  accept(): number | null {
    if (!this.random.chance(0.3)) return null;
    this.open.add(this.next);
    return this.next++;
  }
  connect(): number {
    if (this.random.chance(0.3)) throw new Error('ECONNREFUSED');
    this.open.add(this.next);
    return this.next++;
  }
  read(socket: number, into: Uint8Array): number | null {
    this.use(socket);
    const r = this.random.int(10);
    if (r === 0) throw new Error('ECONNRESET');
    if (r === 1) return 0;
    if (r < 4) return null;
    if (into.length === 0) return 0;
    // Sometimes a handshake line, sometimes random bytes.
    const line = new TextEncoder().encode(this.random.pick(['CONNECT 52\n', 'CONNECT 4294967295\n', 'CONNECT x\n', 'C']));
    const n = 1 + this.random.int(into.length);
    into.set(this.random.chance(0.3) ? line.subarray(0, Math.min(n, line.length)) : this.random.bytes(Math.min(n, 64)));
    return Math.min(n, this.random.chance(0.3) ? line.length : 64, into.length);
  }
  write(socket: number, from: Uint8Array): number | null {
    this.use(socket);
    const r = this.random.int(10);
    if (r === 0) throw new Error('EPIPE');
    if (r < 3) return null;
    return this.random.int(from.length + 1);
  }
  shutdownWrite(socket: number): void {
    this.use(socket);
  }
  close(socket: number): void {
    this.use(socket);
    this.open.delete(socket);
  }
  setInterest(socket: number): void {
    this.use(socket);
  }
}

function packet(random: FuzzRandom, cid: number): MockBuffer[] {
  const payload = random.chance(0.5) ? random.bytes(random.int(300)) : new Uint8Array(0);
  const header = encodeVsockHeader({
    srcCid: random.chance(0.9) ? BigInt(cid) : BigInt(random.interestingU32()),
    dstCid: random.chance(0.9) ? 2n : BigInt(random.interestingU32()),
    srcPort: random.chance(0.8) ? 5000 + random.int(3) : random.interestingU32(),
    dstPort: random.chance(0.8) ? random.pick([52, 1234, 1 << 30, (1 << 30) + 1]) : random.interestingU32(),
    len: random.chance(0.8) ? payload.length : random.interestingU32(),
    type: random.chance(0.9) ? 1 : random.interestingU16(),
    op: random.chance(0.9) ? random.int(8) : random.interestingU16(),
    flags: random.chance(0.8) ? random.int(4) : random.interestingU32(),
    bufAlloc: random.chance(0.8) ? random.int(1 << 18) : random.interestingU32(),
    fwdCnt: random.interestingU32(),
  });
  const head = random.chance(0.05) ? header.subarray(0, random.int(44)) : header;
  return payload.length > 0 ? [{ data: head }, { data: payload }] : [{ data: head }];
}

export const target: FuzzTarget = {
  name: 'vsock',
  description: 'virtio-vsock packets, rx buffers and rings from a hostile guest, with erratic host sockets',
  run(random: FuzzRandom): void {
    const memory = new GuardedMemory(RegionGuestMemory.anonymous(MEM));
    const sockets = new ErraticSockets(random);
    const device = new VirtioVsockDevice({ guestCid: 3, sockets });
    const alloc = new GuestAllocator(0x1000, MEM);
    const drivers = [0, 1, 2].map(() => new MockDriverQueue(memory, 16, alloc));
    const queues = device.queueMaxSizes.map((s) => new Virtqueue(s));
    drivers.forEach((d, i) => d.attach(queues[i]!, random.chance(0.5)));
    device.activate({ memory, queues, interrupt: { signalUsed: () => {}, signalConfigChange: () => {} }, features: 0n });
    for (let step = 0; step < 30; step++) {
      const action = random.int(6);
      const rx = drivers[VsockQueue.RX]!;
      const tx = drivers[VsockQueue.TX]!;
      if (action === 0 && rx.freeDescriptors > 2) {
        rx.addChain([{ writableLength: random.chance(0.9) ? 44 + random.int(600) : random.int(50) }]);
        device.processQueue(VsockQueue.RX);
      } else if (action <= 2 && tx.freeDescriptors > 2) {
        tx.addChain(packet(random, 3));
        device.processQueue(VsockQueue.TX);
      } else if (action === 3) {
        device.onBackendReady();
      } else if (action === 4 && random.chance(0.2)) {
        const d = random.pick(drivers);
        corrupt(memory, random, d.descTable, d.usedRing, 1 + random.int(3));
      } else if (action === 5 && random.chance(0.1)) {
        device.restore(device.save());
        device.activate({ memory, queues, interrupt: { signalUsed: () => {}, signalConfigChange: () => {} }, features: 0n });
      }
      for (const d of drivers) d.takeUsed();
      memory.assertClean();
      const open = device.metrics().connections!;
      if (open > MAX_CONNECTIONS) throw new FuzzPropertyError(`${open} connections exceed the cap`);
    }
    device.reset();
    if (sockets.open.size > 0) throw new FuzzPropertyError(`reset left ${sockets.open.size} host socket(s) open`);
  },
};
