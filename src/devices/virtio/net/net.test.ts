import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioFeatureBit, featureBit } from '../constants.js';
import { VirtioPciTestDriver } from '../transport/test-driver.js';
import type { GuestIoRanges } from '../../../memory/io-ranges.js';
import { NET_RECEIVE_QUEUE, NET_TRANSMIT_QUEUE, VirtioNet, VirtioNetFeature, type NetBackend, type NetOffloads } from './net.js';
import { VirtioNetHeader } from './header.js';

class FakeTap implements NetBackend {
  inbound: Uint8Array[] = [];
  written: Uint8Array[] = [];
  read(frame: Uint8Array): number {
    const next = this.inbound.shift();
    if (!next) return -1;
    frame.set(next.subarray(0, frame.length));
    return Math.min(next.length, frame.length);
  }
  write(packet: GuestIoRanges): void {
    this.written.push(Buffer.concat(packet.views()));
  }
}

function packet(payload: number[], gsoType = 0): Uint8Array {
  const p = new Uint8Array(VirtioNetHeader.SIZE + payload.length);
  p[VirtioNetHeader.GSO_TYPE] = gsoType;
  p[VirtioNetHeader.NUM_BUFFERS] = 0xee; // garbage the tap leaves there
  p.set(payload, VirtioNetHeader.SIZE);
  return p;
}

function setup(accept?: (f: bigint) => bigint) {
  const tap = new FakeTap();
  const offloads: NetOffloads[] = [];
  const net = new VirtioNet({ backend: tap, mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56), setOffloads: (o) => offloads.push(o) });
  const driver = new VirtioPciTestDriver(net, accept ? { acceptFeatures: accept } : {});
  return { tap, net, driver, offloads };
}

test('config space: MAC and link status; link change raises the config interrupt', () => {
  const { net, driver } = setup();
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => driver.deviceConfigRead(i, 1)), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  assert.equal(driver.deviceConfigRead(6, 2), 1);
  driver.initialize();
  net.setLinkUp(false);
  assert.equal(driver.deviceConfigRead(6, 2), 0);
  assert.equal(driver.interruptsFor(0), 1);
});

test('offers the expected features and reports negotiated receive offloads', () => {
  const { driver, offloads } = setup();
  driver.initialize();
  for (const bit of [0, 1, 5, 7, 8, 9, 11, 12, 13, 15, 16]) assert.ok(driver.offered & featureBit(bit), `feature ${bit}`);
  assert.ok(driver.offered & featureBit(VirtioFeatureBit.RING_EVENT_IDX));
  assert.deepEqual(offloads, [{ csum: true, tso4: true, tso6: true, ecn: true, ufo: false }]);
});

test('transmit: header and frame pass through to the backend unchanged, across descriptors', () => {
  const { tap, net, driver } = setup();
  driver.initialize();
  const q = driver.queues[NET_TRANSMIT_QUEUE]!;
  const hdr = packet([], 1).subarray(0, 12);
  q.addChain([{ data: hdr }, { data: Uint8Array.of(1, 2, 3) }, { data: Uint8Array.of(4) }]);
  q.addIndirectChain([{ data: packet([9, 9]) }]);
  q.addChain([{ data: Uint8Array.of(1, 2) }]); // shorter than a header: dropped
  driver.kick(NET_TRANSMIT_QUEUE);
  assert.equal(tap.written.length, 2);
  assert.deepEqual([...tap.written[0]!], [...hdr, 1, 2, 3, 4]);
  assert.deepEqual([...tap.written[1]!.subarray(12)], [9, 9]);
  assert.equal(q.takeUsed().length, 3);
  const m = net.metrics();
  assert.equal(m.txPackets, 2);
  assert.equal(m.txDropped, 1);
  assert.equal(m.bytesFromGuest, 6);
});

test('transmit: a burst longer than one used batch comes back complete, in order, with one interrupt', () => {
  const { tap, driver } = setup();
  driver.initialize();
  const q = driver.queues[NET_TRANSMIT_QUEUE]!;
  const heads: number[] = [];
  for (let i = 0; i < 150; i++) heads.push(q.addChain([{ data: packet([i & 0xff]) }]));
  driver.kick(NET_TRANSMIT_QUEUE);
  assert.equal(tap.written.length, 150);
  assert.deepEqual(tap.written.map((f) => f[VirtioNetHeader.SIZE]), heads.map((_, i) => i & 0xff));
  assert.deepEqual(q.takeUsed().map((u) => u.head), heads);
  assert.equal(driver.interruptsFor(NET_TRANSMIT_QUEUE + 1), 1);
});

test('receive with MRG_RXBUF: one packet spread over buffers with num_buffers', () => {
  const { tap, net, driver } = setup();
  driver.initialize();
  const q = driver.queues[NET_RECEIVE_QUEUE]!;
  const heads = [q.addChain([{ writableLength: 16 }]), q.addChain([{ writableLength: 16 }]), q.addChain([{ writableLength: 16 }])];
  const payload = Array.from({ length: 10 }, (_, i) => i + 1);
  tap.inbound.push(packet(payload));
  tap.inbound.push(packet([7]));
  net.onBackendReady();
  const used = q.takeUsed();
  assert.deepEqual(used, [
    { head: heads[0], len: 16 },
    { head: heads[1], len: 6 },
    { head: heads[2], len: 13 },
  ]);
  const first = q.readWritten(heads[0]!, 16);
  assert.equal(first[VirtioNetHeader.NUM_BUFFERS], 2);
  assert.deepEqual([...first.subarray(12, 16)], [1, 2, 3, 4]);
  assert.deepEqual([...q.readWritten(heads[1]!, 6)], [5, 6, 7, 8, 9, 10]);
  assert.equal(q.readWritten(heads[2]!, 13)[VirtioNetHeader.NUM_BUFFERS], 1);
  assert.equal(driver.interruptsFor(1), 1, 'one interrupt for the batch');
});

test('receive blocks without buffers and resumes on the rx kick', () => {
  const { tap, net, driver } = setup();
  driver.initialize();
  tap.inbound.push(packet([1, 2, 3]));
  net.onBackendReady();
  assert.equal(net.rxBlocked, true);
  const q = driver.queues[NET_RECEIVE_QUEUE]!;
  const head = q.addChain([{ writableLength: 100 }]);
  driver.kick(NET_RECEIVE_QUEUE);
  assert.equal(net.rxBlocked, false);
  assert.deepEqual(q.takeUsed(), [{ head, len: 15 }]);
});

test('receive without MRG_RXBUF: whole packet in one chain; too-big packets are dropped', () => {
  const { tap, net, driver } = setup((f) => f & ~featureBit(VirtioNetFeature.MRG_RXBUF));
  driver.initialize();
  const q = driver.queues[NET_RECEIVE_QUEUE]!;
  const head = q.addChain([{ writableLength: 14 }]);
  tap.inbound.push(packet(Array(20).fill(1)));
  tap.inbound.push(packet([5, 6]));
  net.onBackendReady();
  assert.deepEqual(q.takeUsed(), [{ head, len: 14 }]);
  const got = q.readWritten(head, 14);
  assert.equal(got[VirtioNetHeader.NUM_BUFFERS], 1);
  assert.deepEqual([...got.subarray(12)], [5, 6]);
  assert.equal(net.metrics().rxDropped, 1);
});

test('a backend that always has undeliverable packets cannot hang the device', () => {
  const tap: NetBackend = { read: (f) => (f.fill(0), 5), write: () => {} };
  const net = new VirtioNet({ backend: tap, mac: new Uint8Array(6) });
  const driver = new VirtioPciTestDriver(net);
  driver.initialize();
  net.onBackendReady();
  assert.ok((net.metrics().rxDropped ?? 0) > 0);
});

test('save/restore keeps a pending received packet', () => {
  const { tap, net } = setup();
  const d = new VirtioPciTestDriver(net);
  d.initialize();
  tap.inbound.push(packet([4, 4, 4]));
  net.onBackendReady();
  const state = JSON.parse(JSON.stringify(net.save()));
  const copy = new VirtioNet({ backend: new FakeTap(), mac: new Uint8Array(6) });
  copy.restore(state);
  assert.equal(copy.rxBlocked, true);
});
