/** The vsock device with real Unix sockets: Firecracker's CONNECT handshake and `<uds>_<port>` services. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { GuestAllocator, MockDriverQueue } from '../devices/virtio/queue/mock-driver.js';
import { Virtqueue } from '../devices/virtio/queue/queue.js';
import { VirtioVsockDevice } from '../devices/virtio/vsock/device.js';
import {
  VsockHeader, VsockOp, VsockQueue, decodeVsockHeader, encodeVsockHeader, type VsockPacketHeader,
} from '../devices/virtio/vsock/layout.js';
import { native } from '../sys/native.js';
import { UnixVsockSockets } from './vsock-unix.js';

const MEM = 4 << 20;

function guest(sockets: UnixVsockSockets) {
  const memory = RegionGuestMemory.anonymous(MEM);
  const alloc = new GuestAllocator(0x1000, MEM);
  const device = new VirtioVsockDevice({ guestCid: 3, sockets });
  const drivers = [0, 1, 2].map(() => new MockDriverQueue(memory, 64, alloc));
  const queues = device.queueMaxSizes.map((s) => new Virtqueue(s));
  drivers.forEach((d, i) => d.attach(queues[i]!, false));
  device.activate({ memory, queues, interrupt: { signalUsed: () => {}, signalConfigChange: () => {} }, features: 0n });
  const rx = drivers[VsockQueue.RX]!;
  for (let i = 0; i < 16; i++) rx.addChain([{ writableLength: 4096 }]);
  device.processQueue(VsockQueue.RX);
  const received: { hdr: VsockPacketHeader; payload: string }[] = [];
  return {
    device,
    received,
    /** Runs the device thread's loop body until `until()` holds (epoll wait, then onBackendReady). */
    async pump(until: () => boolean, what: string): Promise<void> {
      for (let i = 0; i < 400 && !until(); i++) {
        if (sockets.waitReady(0) > 0) device.onBackendReady();
        for (const { head, len } of rx.takeUsed()) {
          const bytes = rx.readWritten(head, len);
          received.push({ hdr: decodeVsockHeader(bytes), payload: Buffer.from(bytes.subarray(VsockHeader.SIZE)).toString() });
          rx.addChain([{ writableLength: 4096 }]);
          device.processQueue(VsockQueue.RX);
        }
        await sleep(5);
      }
      assert.ok(until(), `timed out waiting for ${what}`);
    },
    send(fields: Partial<VsockPacketHeader>, payload = ''): void {
      const data = Buffer.from(payload);
      const hdr: VsockPacketHeader = {
        srcCid: 3n, dstCid: 2n, srcPort: 5000, dstPort: 1234, len: data.length, type: 1, op: VsockOp.RW, flags: 0,
        bufAlloc: 65536, fwdCnt: 0, ...fields,
      };
      drivers[VsockQueue.TX]!.addChain(data.length ? [{ data: encodeVsockHeader(hdr) }, { data }] : [{ data: encodeVsockHeader(hdr) }]);
      device.processQueue(VsockQueue.TX);
      drivers[VsockQueue.TX]!.takeUsed();
    },
  };
}

describe('vsock over Unix sockets', () => {
  let dir = '';
  let uds = '';
  let sockets: UnixVsockSockets;
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-vsock-'));
    uds = join(dir, 'v.sock');
    sockets = UnixVsockSockets.listen(uds);
  });
  after(() => {
    sockets.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a path held by a live listener', () => {
    assert.throws(() => UnixVsockSockets.listen(uds), /in use by a live listener/);
  });

  it('replaces a stale socket file and refuses a non-socket path', () => {
    const stale = join(dir, 'stale.sock');
    const first = UnixVsockSockets.listen(stale);
    // Close the listening fd but keep the file, as a VMM that died would.
    const internals = first as unknown as { listener: number };
    native().close(internals.listener);
    internals.listener = -1;
    first.dispose();
    assert.ok(fs.existsSync(stale));
    const second = UnixVsockSockets.listen(stale);
    second.dispose();
    assert.equal(fs.existsSync(stale), false);
    fs.writeFileSync(join(dir, 'plain'), 'x');
    assert.throws(() => UnixVsockSockets.listen(join(dir, 'plain')), /exists and is not a socket/);
  });

  it('host-initiated: CONNECT <port>, OK <hostport>, then bytes both ways', async () => {
    const g = guest(sockets);
    const client = net.createConnection(uds);
    let fromGuest = '';
    client.on('data', (d) => (fromGuest += d.toString()));
    client.write('CONNECT 52\nhello');
    await g.pump(() => g.received.some((p) => p.hdr.op === VsockOp.REQUEST), 'REQUEST');
    const request = g.received.find((p) => p.hdr.op === VsockOp.REQUEST)!;
    assert.equal(request.hdr.dstPort, 52);
    g.send({ op: VsockOp.RESPONSE, srcPort: 52, dstPort: request.hdr.srcPort });
    await g.pump(() => fromGuest.length > 0 && g.received.some((p) => p.payload === 'hello'), 'OK and data');
    assert.equal(fromGuest, `OK ${request.hdr.srcPort}\n`);
    g.send({ op: VsockOp.RW, srcPort: 52, dstPort: request.hdr.srcPort }, 'world');
    await g.pump(() => fromGuest.endsWith('world'), 'guest data at the host client');
    client.end();
    await g.pump(() => g.received.some((p) => p.hdr.op === VsockOp.SHUTDOWN), 'SHUTDOWN after host EOF');
    g.send({ op: VsockOp.RST, srcPort: 52, dstPort: request.hdr.srcPort });
    assert.equal(g.device.metrics().connections, 0);
    client.destroy();
    g.device.reset();
  });

  it('guest-initiated: REQUEST to port P reaches <uds>_P', async () => {
    const g = guest(sockets);
    let serverSide: net.Socket | undefined;
    let atServer = '';
    const server = net.createServer((s) => {
      serverSide = s;
      s.on('data', (d) => (atServer += d.toString()));
    });
    await new Promise<void>((resolve) => server.listen(`${uds}_1234`, resolve));
    try {
      g.send({ op: VsockOp.REQUEST });
      await g.pump(() => g.received.some((p) => p.hdr.op === VsockOp.RESPONSE) && serverSide !== undefined, 'RESPONSE');
      g.send({ op: VsockOp.RW }, 'abc');
      serverSide!.write('xyz');
      await g.pump(() => atServer === 'abc' && g.received.some((p) => p.payload === 'xyz'), 'data both ways');
      // Nobody listens on port 9: RST.
      g.send({ op: VsockOp.REQUEST, dstPort: 9, srcPort: 5001 });
      await g.pump(() => g.received.some((p) => p.hdr.op === VsockOp.RST && p.hdr.srcPort === 9), 'RST');
    } finally {
      g.device.reset();
      serverSide?.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
