/**
 * virtio-blk on a real qcow2 overlay: requests from a mock driver go through
 * the device into src/block, and QEMU's tools check the result (data where
 * the guest put it, backing file untouched, `qemu-img check` clean).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQcow2, openDisk } from '../../src/block/open.js';
import { RegionGuestMemory } from '../../src/memory/guest-memory.js';
import { CORE_FEATURES } from '../../src/devices/virtio/constants.js';
import { GuestAllocator, MockDriverQueue, type MockBuffer } from '../../src/devices/virtio/queue/mock-driver.js';
import { Virtqueue } from '../../src/devices/virtio/queue/queue.js';
import { VirtioBlockDevice } from '../../src/devices/virtio/block/device.js';
import { BlockRequestType, BlockStatus } from '../../src/devices/virtio/block/layout.js';

const MEM = 8 << 20;

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  new DataView(h.buffer).setUint32(0, type, true);
  new DataView(h.buffer).setBigUint64(8, BigInt(sector), true);
  return h;
}

describe('virtio-blk on qcow2', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-blk-qcow2-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('guest writes, zeroes and flushes land in the overlay; qemu agrees', () => {
    const base = join(dir, 'base.raw');
    fs.writeFileSync(base, new Uint8Array(4 << 20).fill(0xbb));
    const overlay = join(dir, 'overlay.qcow2');
    createQcow2(overlay, { backingFile: 'base.raw', backingFormat: 'raw' });
    const disk = openDisk(overlay, { readonly: false });
    const memory = RegionGuestMemory.anonymous(MEM);
    const driver = new MockDriverQueue(memory, 64, new GuestAllocator(0x1000, MEM));
    const device = new VirtioBlockDevice({ backend: disk, serial: 'vol-1' });
    const queue = new Virtqueue(device.queueMaxSizes[0]!);
    driver.attach(queue, true);
    device.activate({ memory, queues: [queue], interrupt: { signalUsed: () => {}, signalConfigChange: () => {} }, features: device.features | CORE_FEATURES });
    const submit = (buffers: MockBuffer[]): Uint8Array => {
      const head = driver.addChain(buffers);
      device.processQueue(0);
      const used = driver.takeUsed().find((u) => u.head === head);
      assert.ok(used);
      const writable = buffers.reduce((n, b) => n + (b.writableLength ?? 0), 0);
      const out = driver.readWritten(head, writable);
      assert.equal(out[writable - 1], BlockStatus.OK);
      return out.subarray(0, writable - 1);
    };
    // 4 KiB at sector 100 (inside the first cluster: copy-on-write from the raw base), 1 MiB across clusters.
    submit([{ data: header(BlockRequestType.OUT, 100) }, { data: new Uint8Array(4096).fill(0x11) }, { writableLength: 1 }]);
    const big = new Uint8Array(1 << 20).fill(0x22);
    submit([{ data: header(BlockRequestType.OUT, 4096) }, { data: big.subarray(0, 300_000) }, { data: big.subarray(300_000) }, { writableLength: 1 }]);
    const segment = new Uint8Array(16);
    new DataView(segment.buffer).setBigUint64(0, 6144n, true); // 3 MiB
    new DataView(segment.buffer).setUint32(8, 256, true); // 128 KiB
    new DataView(segment.buffer).setUint32(12, 1, true); // unmap
    submit([{ data: header(BlockRequestType.WRITE_ZEROES, 0) }, { data: segment }, { writableLength: 1 }]);
    submit([{ data: header(BlockRequestType.FLUSH, 0) }, { writableLength: 1 }]);
    const back = submit([{ data: header(BlockRequestType.IN, 96) }, { writableLength: 8192 + 1 }]);
    assert.ok(back.subarray(0, 2048).every((b) => b === 0xbb));
    assert.ok(back.subarray(2048, 6144).every((b) => b === 0x11));
    assert.ok(back.subarray(6144).every((b) => b === 0xbb));
    const metrics = device.metrics();
    assert.equal(metrics.writeBytes, 4096 + (1 << 20));
    assert.equal(metrics.flushes, 1);
    disk.close();

    assert.match(execFileSync('qemu-img', ['check', overlay], { encoding: 'utf8' }), /No errors were found/);
    const io = execFileSync('qemu-io', [
      '-c', 'read -P 0xbb 0 51200', '-c', 'read -P 0x11 51200 4096', '-c', 'read -P 0xbb 55296 2041856',
      '-c', 'read -P 0x22 2m 1m', '-c', 'read -P 0 3m 128k', '-c', 'read -P 0xbb 3200k 896k', overlay,
    ], { encoding: 'utf8' });
    assert.doesNotMatch(io, /Pattern verification failed/);
    assert.ok(fs.readFileSync(base).every((b) => b === 0xbb), 'the backing file is unchanged');
  });
});
