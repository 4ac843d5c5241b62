import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
import { GuestAllocator, MockDriverQueue } from '../queue/mock-driver.js';
import { Virtqueue } from '../queue/queue.js';
import { VirtioPciTestDriver } from '../transport/test-driver.js';
import { DeviceStatus } from '../constants.js';
import { CONNECTION_BUFFER } from './connection.js';
import { MAX_CONNECTIONS, VSOCK_HANDSHAKE_TIMEOUT_MS, VirtioVsockDevice } from './device.js';
import type { VsockHostSockets } from './host-sockets.js';
import { VsockHeader, VsockOp, VsockQueue, VsockShutdown, decodeVsockHeader, encodeVsockHeader, type VsockPacketHeader } from './layout.js';

/** One end of an in-memory host socket: what the host side sends and what it received. */
class FakeSocket {
  toDevice: number[] = [];
  received: number[] = [];
  hostClosedWrite = false;
  deviceShutWrite = false;
  closed = false;
  /** Bytes the socket accepts before it would block. */
  writeCapacity = Infinity;
  interest = { read: false, write: false };
  constructor(readonly id: number) {}
  send(text: string | Uint8Array): void {
    this.toDevice.push(...(typeof text === 'string' ? new TextEncoder().encode(text) : text));
  }
  text(): string {
    return new TextDecoder().decode(Uint8Array.from(this.received));
  }
}

/** A test double of the host side (src/vmm/vsock-unix.ts does this with Unix sockets). */
class FakeHostSockets implements VsockHostSockets {
  readonly sockets = new Map<number, FakeSocket>();
  readonly pendingAccept: FakeSocket[] = [];
  readonly listeningPorts = new Set<number>();
  readonly connected = new Map<number, FakeSocket>();
  private nextId = 100;
  newSocket(): FakeSocket {
    const s = new FakeSocket(this.nextId++);
    this.sockets.set(s.id, s);
    return s;
  }
  hostConnects(): FakeSocket {
    const s = this.newSocket();
    this.pendingAccept.push(s);
    return s;
  }
  accept(): number | null {
    return this.pendingAccept.shift()?.id ?? null;
  }
  connect(port: number): number {
    if (!this.listeningPorts.has(port)) throw new Error('ECONNREFUSED');
    const s = this.newSocket();
    this.connected.set(port, s);
    return s.id;
  }
  private get(id: number): FakeSocket {
    const s = this.sockets.get(id);
    if (!s || s.closed) throw new Error(`socket ${id} is closed`);
    return s;
  }
  read(id: number, into: Uint8Array): number | null {
    const s = this.get(id);
    if (s.toDevice.length === 0) return s.hostClosedWrite ? 0 : null;
    const n = Math.min(into.length, s.toDevice.length);
    into.set(s.toDevice.splice(0, n));
    return n;
  }
  write(id: number, from: Uint8Array): number | null {
    const s = this.get(id);
    if (s.writeCapacity <= 0) return null;
    const n = Math.min(from.length, s.writeCapacity);
    s.writeCapacity -= n;
    s.received.push(...from.subarray(0, n));
    return n;
  }
  shutdownWrite(id: number): void {
    this.get(id).deviceShutWrite = true;
  }
  close(id: number): void {
    this.get(id).closed = true;
  }
  setInterest(id: number, readable: boolean, writable: boolean): void {
    this.get(id).interest = { read: readable, write: writable };
  }
}

const GUEST_CID = 3;
const MEM = 8 << 20;

interface Packet {
  hdr: VsockPacketHeader;
  payload: Uint8Array;
}

function setup() {
  const memory = RegionGuestMemory.anonymous(MEM);
  const alloc = new GuestAllocator(0x1000, MEM);
  const host = new FakeHostSockets();
  const clock = { ms: 0 };
  const device = new VirtioVsockDevice({ guestCid: GUEST_CID, sockets: host, now: () => clock.ms });
  const drivers = [0, 1, 2].map(() => new MockDriverQueue(memory, 128, alloc));
  const queues = device.queueMaxSizes.map((size) => new Virtqueue(size));
  drivers.forEach((d, i) => d.attach(queues[i]!, true));
  const signals: number[] = [];
  const activate = () =>
    device.activate({ memory, queues, interrupt: { signalUsed: (i) => signals.push(i), signalConfigChange: () => {} }, features: 0n });
  activate();

  const rx = drivers[VsockQueue.RX]!;
  const tx = drivers[VsockQueue.TX]!;
  function addRxBuffers(count: number, size = 4096): void {
    for (let i = 0; i < count; i++) rx.addChain([{ writableLength: size }]);
    device.processQueue(VsockQueue.RX);
  }
  function takeRx(): Packet[] {
    return rx.takeUsed().map(({ head, len }) => {
      const bytes = rx.readWritten(head, len);
      return { hdr: decodeVsockHeader(bytes), payload: bytes.subarray(VsockHeader.SIZE) };
    });
  }
  function guestSend(fields: Partial<VsockPacketHeader>, payload = new Uint8Array(0)): void {
    const hdr: VsockPacketHeader = {
      srcCid: BigInt(GUEST_CID), dstCid: 2n, srcPort: 5000, dstPort: 1234, len: payload.length, type: 1,
      op: VsockOp.RW, flags: 0, bufAlloc: 65536, fwdCnt: 0, ...fields,
    };
    const chain = payload.length > 0 ? [{ data: encodeVsockHeader(hdr) }, { data: payload }] : [{ data: encodeVsockHeader(hdr) }];
    tx.addChain(chain);
    device.processQueue(VsockQueue.TX);
    tx.takeUsed();
  }
  return { memory, host, clock, device, drivers, queues, signals, activate, addRxBuffers, takeRx, guestSend };
}

const ops = (packets: Packet[]) => packets.map((p) => p.hdr.op);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('virtio-vsock', () => {
  it('reports the guest CID in config space and offers stream sockets only', () => {
    const { device } = setup();
    const cfg = new Uint8Array(8);
    device.readConfig(0, cfg);
    assert.equal(new DataView(cfg.buffer).getBigUint64(0, true), 3n);
    assert.equal(device.features, 0n);
    assert.throws(() => new VirtioVsockDevice({ guestCid: 2, sockets: new FakeHostSockets() }), /CID 2/);
  });

  it('connects a guest to a host port and moves data both ways with credit', () => {
    const { host, addRxBuffers, takeRx, guestSend, device } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(8);
    guestSend({ op: VsockOp.REQUEST, bufAlloc: 10 });
    const [response] = takeRx();
    assert.equal(response!.hdr.op, VsockOp.RESPONSE);
    assert.deepEqual([response!.hdr.srcPort, response!.hdr.dstPort, response!.hdr.dstCid], [1234, 5000, 3n]);
    assert.equal(response!.hdr.bufAlloc, CONNECTION_BUFFER);
    const socket = host.connected.get(1234)!;
    assert.ok(socket.interest.read, 'reads the host socket once connected');

    guestSend({ op: VsockOp.RW, bufAlloc: 10 }, new TextEncoder().encode('ping'));
    assert.equal(socket.text(), 'ping');

    // The guest gave 10 bytes of credit: only 10 of 16 arrive until it frees more.
    socket.send('0123456789abcdef');
    device.onBackendReady();
    let packets = takeRx();
    assert.deepEqual(ops(packets), [VsockOp.RW]);
    assert.equal(text(packets[0]!.payload), '0123456789');
    assert.equal(packets[0]!.hdr.fwdCnt, 4, 'fwd_cnt counts the 4 bytes passed to the host');
    assert.equal(socket.interest.read, false, 'no credit: stop watching the socket');
    guestSend({ op: VsockOp.CREDIT_UPDATE, bufAlloc: 10, fwdCnt: 10 });
    packets = takeRx();
    assert.equal(text(packets[0]!.payload), 'abcdef');
    assert.equal(device.metrics().bytesToGuest, 16);
    assert.equal(device.metrics().connections, 1);
  });

  it('answers a REQUEST to a port nobody listens on with RST', () => {
    const { addRxBuffers, takeRx, guestSend } = setup();
    addRxBuffers(2);
    guestSend({ op: VsockOp.REQUEST, dstPort: 9 });
    const [rst] = takeRx();
    assert.equal(rst!.hdr.op, VsockOp.RST);
    assert.deepEqual([rst!.hdr.srcPort, rst!.hdr.dstPort], [9, 5000]);
  });

  it('runs the host-initiated CONNECT handshake without eating stream data', () => {
    const { host, device, addRxBuffers, takeRx, guestSend } = setup();
    addRxBuffers(4);
    const client = host.hostConnects();
    client.send('CONNECT 52\nhello');
    device.onBackendReady();
    const [request] = takeRx();
    assert.equal(request!.hdr.op, VsockOp.REQUEST);
    assert.deepEqual([request!.hdr.srcPort, request!.hdr.dstPort], [1 << 30, 52]);
    assert.equal(text(Uint8Array.from(client.toDevice)), 'hello', 'only the CONNECT line was read');
    guestSend({ op: VsockOp.RESPONSE, srcPort: 52, dstPort: 1 << 30 });
    assert.equal(client.text(), `OK ${1 << 30}\n`);
    device.onBackendReady();
    const [data] = takeRx();
    assert.equal(data!.hdr.op, VsockOp.RW);
    assert.equal(text(data!.payload), 'hello');
    assert.equal(data!.hdr.fwdCnt, 0, 'the OK line is not guest data');
  });

  it('gives up on a guest that never answers REQUEST or never RSTs after SHUTDOWN', () => {
    const { host, clock, device, addRxBuffers, takeRx, guestSend } = setup();
    addRxBuffers(8);
    const client = host.hostConnects();
    client.send('CONNECT 52\n');
    device.onBackendReady();
    assert.deepEqual(ops(takeRx()), [VsockOp.REQUEST]);
    clock.ms += VSOCK_HANDSHAKE_TIMEOUT_MS - 1;
    device.onBackendReady();
    assert.equal(client.closed, false);
    clock.ms += 1;
    device.onBackendReady();
    assert.ok(client.closed, 'host client dropped');
    assert.deepEqual(ops(takeRx()), [VsockOp.RST]);

    host.listeningPorts.add(1234);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    const socket = host.connected.get(1234)!;
    socket.hostClosedWrite = true;
    device.onBackendReady();
    assert.deepEqual(ops(takeRx()), [VsockOp.SHUTDOWN]);
    clock.ms += VSOCK_HANDSHAKE_TIMEOUT_MS;
    device.processQueue(VsockQueue.TX);
    assert.ok(socket.closed);
    assert.deepEqual(ops(takeRx()), [VsockOp.RST]);
    assert.equal(device.metrics().connections, 0);
  });

  it('closes host clients that do not speak CONNECT', () => {
    const { host, device, takeRx, addRxBuffers } = setup();
    addRxBuffers(2);
    const bad = host.hostConnects();
    bad.send('HELLO\n');
    const long = host.hostConnects();
    long.send('CONNECT 1'.padEnd(40, '1'));
    const gone = host.hostConnects();
    gone.hostClosedWrite = true;
    device.onBackendReady();
    assert.ok(bad.closed && long.closed && gone.closed);
    assert.deepEqual(takeRx(), []);
  });

  it('tells the guest when the host closes and ends on its RST', () => {
    const { host, device, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(4);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    const socket = host.connected.get(1234)!;
    socket.send('bye');
    socket.hostClosedWrite = true;
    device.onBackendReady();
    const packets = takeRx();
    assert.deepEqual(ops(packets), [VsockOp.RW, VsockOp.SHUTDOWN]);
    assert.equal(packets[1]!.hdr.flags, VsockShutdown.BOTH);
    assert.equal(socket.closed, false);
    guestSend({ op: VsockOp.RST });
    assert.equal(socket.closed, true);
    assert.equal(device.metrics().connections, 0);
  });

  it('ends with RST when the guest shuts down both directions, half-closes on SEND only', () => {
    const { host, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234).add(77);
    addRxBuffers(8);
    guestSend({ op: VsockOp.REQUEST });
    guestSend({ op: VsockOp.REQUEST, dstPort: 77, srcPort: 6000 });
    takeRx();
    guestSend({ op: VsockOp.SHUTDOWN, flags: VsockShutdown.SEND, dstPort: 77, srcPort: 6000 });
    assert.ok(host.connected.get(77)!.deviceShutWrite);
    assert.equal(host.connected.get(77)!.closed, false);
    guestSend({ op: VsockOp.SHUTDOWN, flags: VsockShutdown.BOTH });
    const [rst] = takeRx();
    assert.equal(rst!.hdr.op, VsockOp.RST);
    assert.ok(host.connected.get(1234)!.closed);
  });

  it('drops malformed packets and resets unknown connections', () => {
    const { device, drivers, addRxBuffers, takeRx, guestSend } = setup();
    addRxBuffers(4);
    drivers[VsockQueue.TX]!.addChain([{ data: new Uint8Array(20) }]);
    device.processQueue(VsockQueue.TX);
    guestSend({ srcCid: 99n });
    guestSend({ dstCid: 7n });
    const liar = encodeVsockHeader({ srcCid: 3n, dstCid: 2n, srcPort: 1, dstPort: 2, len: 1000, type: 1, op: VsockOp.RW, flags: 0, bufAlloc: 0, fwdCnt: 0 });
    drivers[VsockQueue.TX]!.addChain([{ data: liar }, { data: new Uint8Array(10) }]);
    device.processQueue(VsockQueue.TX);
    assert.equal(device.metrics().errors, 4);
    assert.deepEqual(takeRx(), []);
    guestSend({ op: VsockOp.RW }, new Uint8Array(5));
    guestSend({ op: VsockOp.REQUEST, type: 2 }); // seqpacket: not offered
    assert.deepEqual(ops(takeRx()), [VsockOp.RST, VsockOp.RST]);
  });

  it('resets a guest that sends beyond its credit while the host is stuck', () => {
    const { host, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(4);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    const socket = host.connected.get(1234)!;
    socket.writeCapacity = 0;
    const chunk = new Uint8Array(64 * 1024);
    for (let i = 0; i < CONNECTION_BUFFER / chunk.length; i++) guestSend({ op: VsockOp.RW }, chunk);
    assert.equal(socket.closed, false);
    assert.ok(socket.interest.write, 'waits for the host socket to drain');
    guestSend({ op: VsockOp.RW }, new Uint8Array(1));
    assert.deepEqual(ops(takeRx()), [VsockOp.RST]);
    assert.ok(socket.closed);
  });

  it('flushes buffered guest data when the host drains, then updates credit', () => {
    const { host, device, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(4);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    const socket = host.connected.get(1234)!;
    socket.writeCapacity = 1000;
    guestSend({ op: VsockOp.RW }, new Uint8Array(64 * 1024).fill(7));
    assert.equal(socket.received.length, 1000);
    socket.writeCapacity = Infinity;
    device.onBackendReady();
    assert.equal(socket.received.length, 64 * 1024);
    assert.equal(socket.interest.write, false);
    const [update] = takeRx();
    assert.equal(update!.hdr.op, VsockOp.CREDIT_UPDATE);
    assert.equal(update!.hdr.fwdCnt, 64 * 1024);
  });

  it('holds control packets until the guest posts rx buffers', () => {
    const { host, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    guestSend({ op: VsockOp.REQUEST });
    assert.deepEqual(takeRx(), []);
    assert.equal(host.connected.get(1234)!.interest.read, false, 'no rx buffers: do not read the host');
    addRxBuffers(1);
    assert.deepEqual(ops(takeRx()), [VsockOp.RESPONSE]);
  });

  it('consumes rx buffers too small for any payload instead of retrying them forever', () => {
    const { host, device, drivers, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(1);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    host.connected.get(1234)!.send('data');
    addRxBuffers(1, 44);
    device.onBackendReady();
    assert.deepEqual(drivers[VsockQueue.RX]!.takeUsed().map((u) => u.len), [0]);
    assert.equal(device.metrics().errors, 1);
    addRxBuffers(1);
    assert.equal(text(takeRx()[0]!.payload), 'data');
  });

  it('caps the number of connections', () => {
    const { host, device, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      addRxBuffers(1);
      guestSend({ op: VsockOp.REQUEST, srcPort: 10000 + i });
      takeRx();
    }
    assert.equal(device.metrics().connections, MAX_CONNECTIONS);
    addRxBuffers(1);
    guestSend({ op: VsockOp.REQUEST, srcPort: 1 });
    assert.deepEqual(ops(takeRx()), [VsockOp.RST]);
  });

  it('drops connections on restore and sends TRANSPORT_RESET', () => {
    const { host, device, drivers, activate, addRxBuffers, takeRx, guestSend } = setup();
    host.listeningPorts.add(1234);
    addRxBuffers(2);
    guestSend({ op: VsockOp.REQUEST });
    takeRx();
    const state = JSON.parse(JSON.stringify(device.save())) as unknown;
    device.restore(state);
    assert.ok(host.connected.get(1234)!.closed);
    const events = drivers[VsockQueue.EVENT]!;
    const head = events.addChain([{ writableLength: 4 }]);
    activate();
    assert.deepEqual(events.takeUsed(), [{ head, len: 4 }]);
    assert.deepEqual([...events.readWritten(head, 4)], [0, 0, 0, 0]);
    assert.throws(() => device.restore({ version: 1, kind: 'virtio-vsock', guestCid: 4 }), /guest CID was 4/);
  });
  it('restored in a new process, it sends TRANSPORT_RESET on an event buffer posted before the snapshot, then serves new connections', () => {
    // Before: a guest with an open guest->host connection and event buffers posted at probe time (as Linux does).
    const hostBefore = new FakeHostSockets();
    hostBefore.listeningPorts.add(1234);
    const driver = new VirtioPciTestDriver(new VirtioVsockDevice({ guestCid: GUEST_CID, sockets: hostBefore }));
    assert.equal(driver.initialize() & DeviceStatus.DRIVER_OK, DeviceStatus.DRIVER_OK);
    const [rx, tx, events] = driver.queues as [MockDriverQueue, MockDriverQueue, MockDriverQueue];
    const eventHead = events.addChain([{ writableLength: 4 }]);
    driver.kick(VsockQueue.EVENT);
    rx.addChain([{ writableLength: 4096 }]);
    rx.addChain([{ writableLength: 4096 }]);
    driver.kick(VsockQueue.RX);
    const request = (srcPort: number): void => {
      const hdr: VsockPacketHeader = {
        srcCid: BigInt(GUEST_CID), dstCid: 2n, srcPort, dstPort: 1234, len: 0, type: 1, op: VsockOp.REQUEST, flags: 0, bufAlloc: 65536, fwdCnt: 0,
      };
      tx.addChain([{ data: encodeVsockHeader(hdr) }]);
    };
    const rxOps = () => rx.takeUsed().map(({ head, len }) => decodeVsockHeader(rx.readWritten(head, len)).op);
    request(5000);
    driver.kick(VsockQueue.TX);
    assert.deepEqual(rxOps(), [VsockOp.RESPONSE]);
    assert.deepEqual(events.takeUsed(), [], 'no event before a restore');
    const state = JSON.parse(JSON.stringify(driver.transport.save())) as ReturnType<typeof driver.transport.save>;

    // After: a new VMM process builds a fresh device over new host sockets and the same guest RAM (the memory file).
    const hostAfter = new FakeHostSockets();
    hostAfter.listeningPorts.add(1234);
    const device = new VirtioVsockDevice({ guestCid: GUEST_CID, sockets: hostAfter });
    const restored = new VirtioPciTestDriver(device, { wrapMemory: () => driver.memory });
    restored.transport.restore(state);
    // §5.10.6.7: the event tells the driver its connections are gone; vector 3 is the event queue's (test driver: queue + 1).
    assert.deepEqual(events.takeUsed(), [{ head: eventHead, len: 4 }]);
    assert.deepEqual([...events.readWritten(eventHead, 4)], [0, 0, 0, 0], 'VIRTIO_VSOCK_EVENT_TRANSPORT_RESET');
    assert.equal(restored.interruptsFor(VsockQueue.EVENT + 1), 1);
    assert.equal(device.metrics()['transportResets'], 1);
    assert.equal(device.metrics()['connections'], 0);
    // A later event-queue kick (the driver re-posting its buffer) does not repeat the event.
    events.addChain([{ writableLength: 4 }]);
    restored.transport.notifyQueue(VsockQueue.EVENT);
    assert.deepEqual(events.takeUsed(), []);
    // A new connection works through the restored rings (the second rx buffer is still posted).
    request(5001);
    restored.transport.notifyQueue(VsockQueue.TX);
    assert.deepEqual(rxOps(), [VsockOp.RESPONSE]);
    assert.ok(hostAfter.connected.get(1234) && !hostAfter.connected.get(1234)!.closed);
  });
});
