import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
import type { GuestIoRanges } from '../../../memory/io-ranges.js';
import { CORE_FEATURES, featureBit, hasFeature } from '../constants.js';
import { GuestAllocator, MockDriverQueue, type MockBuffer } from '../queue/mock-driver.js';
import { Virtqueue } from '../queue/queue.js';
import { checkDiskRange, type DiskBackend, type DiskFileIdentity } from './backend.js';
import { VirtioBlockDevice, type VirtioBlockOptions } from './device.js';
import { BlockConfig, BlockFeatureBit, BlockRequestType, BlockStatus } from './layout.js';

/** A disk held in memory (a test double for src/block's file backends), recording calls. */
class MemoryDisk implements DiskBackend {
  readonly bytes: Uint8Array;
  readonly supportsDiscard = true;
  readonly supportsWriteZeroes = true;
  flushes = 0;
  readonly calls: string[] = [];
  /** [offset, length] of every read and write the device made. */
  readonly transfers: Array<[string, number, number]> = [];
  failNext: Error | null = null;
  constructor(size: number, readonly readonly = false) {
    this.bytes = new Uint8Array(size);
  }
  get sizeBytes(): number {
    return this.bytes.length;
  }
  private maybeFail(): void {
    const err = this.failNext;
    this.failNext = null;
    if (err) throw err;
  }
  read(offset: number, into: Uint8Array): void {
    this.maybeFail();
    checkDiskRange(this.sizeBytes, offset, into.length);
    this.transfers.push(['read', offset, into.length]);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  write(offset: number, from: Uint8Array): void {
    this.maybeFail();
    checkDiskRange(this.sizeBytes, offset, from.length);
    this.transfers.push(['write', offset, from.length]);
    this.bytes.set(from, offset);
  }
  flush(): void {
    this.flushes++;
  }
  discard(offset: number, length: number): void {
    this.calls.push(`discard ${offset} ${length}`);
  }
  writeZeroes(offset: number, length: number, unmap: boolean): void {
    this.calls.push(`zeroes ${offset} ${length} ${unmap}`);
    this.bytes.fill(0, offset, offset + length);
  }
  identity(): DiskFileIdentity[] {
    return [];
  }
  close(): void {}
}

/** A disk that also takes vectored calls, recording them as one transfer each. */
class VectoredMemoryDisk extends MemoryDisk {
  readv(offset: number, ranges: GuestIoRanges): void {
    checkDiskRange(this.sizeBytes, offset, ranges.byteLength);
    this.transfers.push(['readv', offset, ranges.count]);
    let at = offset;
    for (const b of ranges.views()) {
      b.set(this.bytes.subarray(at, at + b.length));
      at += b.length;
    }
  }
  writev(offset: number, ranges: GuestIoRanges): void {
    checkDiskRange(this.sizeBytes, offset, ranges.byteLength);
    this.transfers.push(['writev', offset, ranges.count]);
    let at = offset;
    for (const b of ranges.views()) {
      this.bytes.set(b, at);
      at += b.length;
    }
  }
}

const MEM = 4 << 20;

function setup(opts: Partial<VirtioBlockOptions> = {}, disk = new MemoryDisk(1 << 20)) {
  const memory = RegionGuestMemory.anonymous(MEM);
  const driver = new MockDriverQueue(memory, 64, new GuestAllocator(0x1000, MEM));
  const device = new VirtioBlockDevice({ backend: disk, serial: 'disk-serial-1', ...opts });
  const queue = new Virtqueue(device.queueMaxSizes[0]!);
  driver.attach(queue, true);
  const signals: number[] = [];
  device.activate({
    memory,
    queues: [queue],
    interrupt: { signalUsed: (i) => signals.push(i), signalConfigChange: () => {} },
    features: device.features | CORE_FEATURES,
  });
  /** Submits one request and returns [status, usedLen, data written by the device]. */
  function request(buffers: MockBuffer[], indirect = false): { status: number; used: number; data: Uint8Array } {
    const head = indirect ? driver.addIndirectChain(buffers) : driver.addChain(buffers);
    device.processQueue(0);
    const [used] = driver.takeUsed();
    assert.ok(used, 'request was completed');
    assert.equal(used.head, head);
    const total = buffers.reduce((n, b) => n + (b.writableLength ?? 0), 0);
    const all = driver.readWritten(head, total);
    return { status: total > 0 ? all[total - 1]! : -1, used: used.len, data: all.subarray(0, Math.max(0, total - 1)) };
  }
  return { memory, driver, device, disk, queue, signals, request };
}

function header(type: number, sector = 0n): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, sector, true);
  return h;
}

function segment(sector: bigint, sectors: number, flags = 0): Uint8Array {
  const s = new Uint8Array(16);
  const v = new DataView(s.buffer);
  v.setBigUint64(0, sector, true);
  v.setUint32(8, sectors, true);
  v.setUint32(12, flags, true);
  return s;
}

describe('virtio-blk', () => {
  it('exposes capacity, limits and features in config space', () => {
    const { device } = setup();
    const cfg = new Uint8Array(device.configSize);
    device.readConfig(0, cfg);
    const v = new DataView(cfg.buffer);
    assert.equal(v.getBigUint64(BlockConfig.CAPACITY, true), 2048n);
    assert.equal(v.getUint32(BlockConfig.SEG_MAX, true), 510);
    assert.equal(v.getUint32(BlockConfig.BLK_SIZE, true), 512);
    assert.equal(v.getUint32(BlockConfig.MAX_DISCARD_SEG, true), 32);
    assert.equal(v.getUint32(BlockConfig.DISCARD_SECTOR_ALIGNMENT, true), 1);
    const clustered = new MemoryDisk(1 << 20);
    Object.assign(clustered, { discardGranularity: 65536 });
    const cfg2 = new Uint8Array(BlockConfig.SIZE);
    new VirtioBlockDevice({ backend: clustered }).readConfig(0, cfg2);
    assert.equal(new DataView(cfg2.buffer).getUint32(BlockConfig.DISCARD_SECTOR_ALIGNMENT, true), 128);
    for (const bit of [BlockFeatureBit.FLUSH, BlockFeatureBit.SEG_MAX, BlockFeatureBit.BLK_SIZE, BlockFeatureBit.DISCARD, BlockFeatureBit.WRITE_ZEROES]) {
      assert.ok(hasFeature(device.features, bit), `feature ${bit}`);
    }
    assert.ok(!hasFeature(device.features, BlockFeatureBit.RO));
    const ro = setup({ readonly: true }).device;
    assert.ok(hasFeature(ro.features, BlockFeatureBit.RO));
    assert.equal(ro.features & featureBit(BlockFeatureBit.DISCARD), 0n);
    const mq = new VirtioBlockDevice({ backend: new MemoryDisk(4096), numQueues: 4 });
    assert.equal(mq.queueMaxSizes.length, 4);
    assert.ok(hasFeature(mq.features, BlockFeatureBit.MQ));
  });

  it('writes then reads back across several guest buffers, direct and indirect', () => {
    const { request, disk, signals, device } = setup();
    const payload = new Uint8Array(3 * 512).map((_, i) => i & 0xff);
    const w = request([{ data: header(BlockRequestType.OUT, 4n) }, { data: payload.subarray(0, 1000) }, { data: payload.subarray(1000) }, { writableLength: 1 }]);
    assert.deepEqual([w.status, w.used], [BlockStatus.OK, 1]);
    assert.deepEqual(disk.bytes.subarray(2048, 2048 + payload.length), payload);
    const r = request([{ data: header(BlockRequestType.IN, 4n) }, { writableLength: 512 }, { writableLength: 1025 }], true);
    assert.deepEqual([r.status, r.used], [BlockStatus.OK, 1537]);
    assert.deepEqual(r.data, payload);
    assert.deepEqual(signals, [0, 0]);
    const m = device.metrics();
    assert.deepEqual([m.requests, m.readBytes, m.writeBytes, m.readRequests, m.writeRequests], [2, 1536, 1536, 1, 1]);
  });

  it('moves data in adjacent guest buffers with one backend call, and in distant ones with one each', () => {
    const { request, disk } = setup();
    const payload = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    // The mock driver allocates buffers back to back: four 1 KiB pieces continue each other in guest memory.
    const pieces = [0, 1, 2, 3].map((k) => ({ data: payload.subarray(k * 1024, (k + 1) * 1024) }));
    assert.equal(request([{ data: header(BlockRequestType.OUT, 8n) }, ...pieces, { writableLength: 1 }]).status, BlockStatus.OK);
    assert.deepEqual(disk.transfers, [['write', 4096, 4096]]);
    disk.transfers.length = 0;
    const r = request([{ data: header(BlockRequestType.IN, 8n) }, { writableLength: 2048 }, { writableLength: 2049 }]);
    assert.deepEqual(r.data, payload);
    assert.deepEqual(disk.transfers, [['read', 4096, 4096]]);
    // The mock driver aligns buffers to 8 bytes: after a 1004-byte piece the next one starts 4 bytes further on.
    disk.transfers.length = 0;
    const gapped = [{ data: payload.subarray(0, 1004) }, { data: payload.subarray(1004, 1024) }];
    assert.equal(request([{ data: header(BlockRequestType.OUT, 16n) }, ...gapped, { writableLength: 1 }]).status, BlockStatus.OK);
    assert.deepEqual(disk.transfers, [['write', 8192, 1004], ['write', 9196, 20]]);
    assert.deepEqual(disk.bytes.subarray(8192, 9216), payload.subarray(0, 1024));
  });

  it('hands distant guest buffers to a vectored backend in one call; a single buffer goes the plain way', () => {
    const { request, disk } = setup({}, new VectoredMemoryDisk(1 << 20));
    const payload = new Uint8Array(1024).map((_, i) => (i * 13) & 0xff);
    // 8-byte aligned buffers: after a 1004-byte piece the next one starts 4 bytes further on, so two views.
    const gapped = [{ data: payload.subarray(0, 1004) }, { data: payload.subarray(1004) }];
    assert.equal(request([{ data: header(BlockRequestType.OUT, 2n) }, ...gapped, { writableLength: 1 }]).status, BlockStatus.OK);
    const r = request([{ data: header(BlockRequestType.IN, 2n) }, { writableLength: 1004 }, { writableLength: 21 }]);
    assert.deepEqual(r.data, payload);
    const one = request([{ data: header(BlockRequestType.IN, 2n) }, { writableLength: 513 }]);
    assert.deepEqual(one.data, payload.subarray(0, 512));
    assert.deepEqual(disk.transfers, [['writev', 1024, 2], ['readv', 1024, 2], ['read', 1024, 512]]);
  });

  it('flushes the backend and answers GET_ID with the serial', () => {
    const { request, disk, device } = setup();
    assert.equal(request([{ data: header(BlockRequestType.FLUSH) }, { writableLength: 1 }]).status, BlockStatus.OK);
    assert.equal(disk.flushes, 1);
    const id = request([{ data: header(BlockRequestType.GET_ID) }, { writableLength: 21 }]);
    assert.equal(id.status, BlockStatus.OK);
    assert.equal(id.used, 21);
    assert.equal(new TextDecoder().decode(id.data).replace(/\0+$/, ''), 'disk-serial-1');
    assert.equal(device.metrics().flushes, 1);
  });

  it('fails out-of-range, unaligned and read-only requests with IOERR', () => {
    const { request, device } = setup();
    assert.equal(request([{ data: header(BlockRequestType.IN, 2047n) }, { writableLength: 1025 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.IN, 0xffff_ffff_ffff_ffffn) }, { writableLength: 513 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.OUT, 0n) }, { data: new Uint8Array(100) }, { writableLength: 1 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.IN, 2047n) }, { writableLength: 513 }]).status, BlockStatus.OK);
    assert.ok(device.metrics().errors >= 3);
    assert.match(device.lastRequestError ?? '', /not a multiple of 512/);
    const ro = setup({ readonly: true });
    assert.equal(ro.request([{ data: header(BlockRequestType.OUT) }, { data: new Uint8Array(512) }, { writableLength: 1 }]).status, BlockStatus.IOERR);
    assert.equal(ro.request([{ data: header(BlockRequestType.IN) }, { writableLength: 513 }]).status, BlockStatus.OK);
    assert.equal(ro.request([{ data: header(BlockRequestType.WRITE_ZEROES) }, { data: segment(0n, 1) }, { writableLength: 1 }]).status, BlockStatus.UNSUPP);
  });

  it('answers malformed requests without failing the device', () => {
    const { request, driver, device } = setup();
    assert.equal(request([{ data: new Uint8Array(8) }, { writableLength: 1 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(99) }, { writableLength: 1 }]).status, BlockStatus.UNSUPP);
    assert.equal(request([{ data: header(BlockRequestType.OUT) }, { data: new Uint8Array(512) }, { writableLength: 513 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.IN) }, { data: new Uint8Array(512) }, { writableLength: 513 }]).status, BlockStatus.IOERR);
    // No status byte at all: completed with nothing written.
    const head = driver.addChain([{ data: header(BlockRequestType.FLUSH) }]);
    device.processQueue(0);
    assert.deepEqual(driver.takeUsed(), [{ head, len: 0 }]);
    // The device still works.
    assert.equal(request([{ data: header(BlockRequestType.FLUSH) }, { writableLength: 1 }]).status, BlockStatus.OK);
  });

  it('turns backend failures into IOERR', () => {
    const { request, disk } = setup();
    disk.failNext = new Error('EIO from the disk');
    assert.equal(request([{ data: header(BlockRequestType.IN) }, { writableLength: 513 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.IN) }, { writableLength: 513 }]).status, BlockStatus.OK);
  });

  it('discards and writes zeroes by segment', () => {
    const { request, disk, device } = setup();
    disk.bytes.fill(0xff);
    const z = request([{ data: header(BlockRequestType.WRITE_ZEROES) }, { data: segment(2n, 2, 1) }, { data: segment(10n, 1) }, { writableLength: 1 }]);
    assert.equal(z.status, BlockStatus.OK);
    assert.deepEqual(disk.calls, ['zeroes 1024 1024 true', 'zeroes 5120 512 false']);
    assert.equal(disk.bytes[1024], 0);
    assert.equal(disk.bytes[2048], 0xff);
    assert.equal(request([{ data: header(BlockRequestType.DISCARD) }, { data: segment(100n, 8) }, { writableLength: 1 }]).status, BlockStatus.OK);
    assert.equal(disk.calls[2], 'discard 51200 4096');
    // Unmap on discard and unknown flags are unsupported; out of range and empty lists are errors.
    assert.equal(request([{ data: header(BlockRequestType.DISCARD) }, { data: segment(0n, 1, 1) }, { writableLength: 1 }]).status, BlockStatus.UNSUPP);
    assert.equal(request([{ data: header(BlockRequestType.WRITE_ZEROES) }, { data: segment(0n, 1, 4) }, { writableLength: 1 }]).status, BlockStatus.UNSUPP);
    assert.equal(request([{ data: header(BlockRequestType.DISCARD) }, { data: segment(2047n, 2) }, { writableLength: 1 }]).status, BlockStatus.IOERR);
    assert.equal(request([{ data: header(BlockRequestType.DISCARD) }, { writableLength: 1 }]).status, BlockStatus.IOERR);
    assert.equal(disk.calls.length, 3);
    assert.equal(device.metrics().discards, 1);
    assert.equal(device.metrics().writeZeroes, 1);
  });

  it('saves and refuses to restore onto a different disk', () => {
    const { device } = setup();
    const state = JSON.parse(JSON.stringify(device.save())) as unknown;
    device.restore(state);
    const other = setup({}, new MemoryDisk(2 << 20)).device;
    assert.throws(() => other.restore(state), /capacitySectors was 2048/);
    assert.throws(() => device.restore({ kind: 'virtio-blk', version: 2 }), /unsupported state version 2/);
    assert.throws(() => device.restore(null), /not a virtio-blk state/);
  });
});
