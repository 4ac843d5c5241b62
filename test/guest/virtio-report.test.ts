import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertVirtioReport, assertVirtioTestDisk, createVirtioTestDisk, expectedPattern, parseVirtioReport, VirtioTestGuest } from './virtio-report.js';

const marker = Buffer.from('c74d3e955508079a5954dd16b6820e0ba1e97b7d72bfcb86abf4977ae2b57165', 'hex');
const expected = { marker, diskBytes: 1024 * 1024, mac: '52:54:00:12:34:56', peerMac: '52:55:0a:00:02:02' };

/** A report as the guest printed it under QEMU (serial lines, CRs and other output included). */
function sample(overrides: Record<string, string> = {}): string {
  const lines: Record<string, string> = {
    features: 'virtio-blk features offered 0x10130006e54 accepted 0x100000200',
    capacity: 'virtio-blk capacity 2048',
    sector0: `virtio-blk sector0 ${marker.toString('hex')}`,
    compare: 'virtio-blk wrote sectors 8-15 read back 4096 of 4096 bytes equal',
    blk: 'virtio-blk requestq completions 4 interrupts 4',
    blkStatus: 'virtio-blk status 0xf',
    mac: 'virtio-net mac 52:54:00:12:34:56',
    rxFrame: 'virtio-net rx 42 bytes ethertype 0806',
    arp: 'virtio-net arp-reply 10.0.2.2 is-at 52:55:0a:00:02:02',
    rx: 'virtio-net rx completions 1 interrupts 1',
    tx: 'virtio-net tx completions 1 interrupts 1',
    netStatus: 'virtio-net status 0xf',
    spurious: 'virtio spurious-interrupts 0',
    ...overrides,
  };
  return ['SeaBIOS noise', ...Object.values(lines).map((l) => `TVG: ${l}\r`)].join('\n');
}

test('a complete report parses and passes', () => {
  const r = parseVirtioReport(sample());
  assert.equal(r.blk.capacity, 2048);
  assert.deepEqual(r.blk.requests, { completions: 4, interrupts: 4 });
  assert.equal(r.blk.acceptedFeatures, (1n << 32n) | VirtioTestGuest.VIRTIO_BLK_F_FLUSH);
  assert.deepEqual(r.net.rx, { completions: 1, interrupts: 1 });
  assert.equal(r.net.arpReplyMac, '52:55:0a:00:02:02');
  assert.equal(r.spuriousInterrupts, 0);
  assertVirtioReport(r, expected, 'sample');
});

test('reports that must fail do', () => {
  const failing: Record<string, string> = {
    blk: 'virtio-blk requestq completions 4 interrupts 3', // an interrupt lost
    compare: 'virtio-blk wrote sectors 8-15 read back 4095 of 4096 bytes equal',
    sector0: `virtio-blk sector0 ${'00'.repeat(32)}`,
    tx: 'virtio-net tx completions 1 interrupts 0',
    rx: 'virtio-net rx completions 1 interrupts 0',
    arp: 'virtio-net arp-reply 10.0.2.2 is-at 52:55:0a:00:02:03',
    netStatus: 'virtio-net status 0x4f', // DEVICE_NEEDS_RESET
    features: 'virtio-blk features offered 0x10130006e54 accepted 0x100000000', // no flush: 3 requests expected
    spurious: 'error virtio-net: no ARP reply',
  };
  for (const [key, line] of Object.entries(failing)) {
    assert.throws(() => assertVirtioReport(parseVirtioReport(sample({ [key]: line })), expected, key), assert.AssertionError, key);
  }
  assert.throws(() => assertVirtioReport(parseVirtioReport(sample({ arp: '' })), expected, 'no reply'), assert.AssertionError);
});

test('the disk check finds the pattern, and only the pattern', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvg-disk-'));
  try {
    const path = join(dir, 'disk.raw');
    const m = createVirtioTestDisk(path, 64 * 1024);
    assert.throws(() => assertVirtioTestDisk(path, m), assert.AssertionError, 'nothing written yet');
    const disk = Buffer.alloc(64 * 1024);
    m.copy(disk);
    expectedPattern(m).copy(disk, VirtioTestGuest.FIRST_SECTOR * VirtioTestGuest.SECTOR_SIZE);
    writeFileSync(path, disk);
    assertVirtioTestDisk(path, m);
    disk[20 * VirtioTestGuest.SECTOR_SIZE] = 1;
    writeFileSync(path, disk);
    assert.throws(() => assertVirtioTestDisk(path, m), assert.AssertionError, 'a stray write elsewhere');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
