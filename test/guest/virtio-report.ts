/**
 * The host side of the test guest's `tvg.test=virtio` mode (test/guest/virtio-test.c): the disk it expects, the
 * report it prints, and the checks every VMM that runs it (QEMU TCG here, typevisor on KVM) must pass.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

/** Constants shared with virtio-test.c. */
export const VirtioTestGuest = {
  SECTOR_SIZE: 512,
  /** Sector 0 starts with this many random bytes; the guest reads them and derives its pattern from them. */
  MARKER_BYTES: 32,
  /** The guest writes sectors FIRST_SECTOR .. FIRST_SECTOR + SECTORS - 1. */
  FIRST_SECTOR: 8,
  SECTORS: 8,
  GUEST_IP: '10.0.2.15',
  /** The address the guest ARPs for: QEMU's user network answers for it; the KVM lab puts it on the tap. */
  PEER_IP: '10.0.2.2',
  /** Reads of sector 0, the write and the read back (plus a flush when VIRTIO_BLK_F_FLUSH is negotiated). */
  BLOCK_REQUESTS_WITHOUT_FLUSH: 3,
  VIRTIO_BLK_F_FLUSH: 1n << 9n,
  /** ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK (virtio 1.2 §2.1), without DEVICE_NEEDS_RESET or FAILED. */
  STATUS_RUNNING: 0xf,
} as const;

/** Writes a zeroed raw disk of `bytes` whose sector 0 begins with a fresh random marker; returns the marker. */
export function createVirtioTestDisk(path: string, bytes = 1024 * 1024): Buffer {
  const disk = Buffer.alloc(bytes);
  const marker = randomBytes(VirtioTestGuest.MARKER_BYTES);
  marker.copy(disk, 0);
  writeFileSync(path, disk);
  return marker;
}

/** The bytes the guest writes: the marker mixed with the sector number and the offset (pattern_byte in C). */
export function expectedPattern(marker: Buffer): Buffer {
  const { FIRST_SECTOR, SECTORS, SECTOR_SIZE, MARKER_BYTES } = VirtioTestGuest;
  const out = Buffer.alloc(SECTORS * SECTOR_SIZE);
  for (let s = 0; s < SECTORS; s++) {
    for (let i = 0; i < SECTOR_SIZE; i++) out[s * SECTOR_SIZE + i] = marker[i % MARKER_BYTES]! ^ (((FIRST_SECTOR + s) * 31 + i) & 0xff);
  }
  return out;
}

export interface QueueCounts {
  completions: number;
  interrupts: number;
}

export interface VirtioReport {
  errors: string[];
  blk: {
    acceptedFeatures?: bigint;
    capacity?: number;
    sector0?: string;
    equalBytes?: number;
    comparedBytes?: number;
    requests?: QueueCounts;
    status?: number;
  };
  net: { mac?: string; arpReplyIp?: string; arpReplyMac?: string; rx?: QueueCounts; tx?: QueueCounts; status?: number };
  spuriousInterrupts?: number;
}

/** Parses the "TVG: ..." lines (with or without the prefix) of a virtio run. */
export function parseVirtioReport(output: string): VirtioReport {
  const lines = output
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .map((l) => (l.includes('TVG: ') ? l.slice(l.indexOf('TVG: ') + 5) : l));
  const r: VirtioReport = { errors: [], blk: {}, net: {} };
  const counts = (m: RegExpExecArray): QueueCounts => ({ completions: Number(m[1]), interrupts: Number(m[2]) });
  for (const line of lines) {
    let m: RegExpExecArray | null;
    if (/^(error|exception) /.test(line)) r.errors.push(line);
    else if ((m = /^virtio-blk features offered 0x[0-9a-f]+ accepted (0x[0-9a-f]+)$/.exec(line))) r.blk.acceptedFeatures = BigInt(m[1]!);
    else if ((m = /^virtio-blk capacity (\d+)$/.exec(line))) r.blk.capacity = Number(m[1]);
    else if ((m = /^virtio-blk sector0 ([0-9a-f]+)$/.exec(line))) r.blk.sector0 = m[1]!;
    else if ((m = /^virtio-blk wrote sectors \d+-\d+ read back (\d+) of (\d+) bytes equal$/.exec(line))) {
      r.blk.equalBytes = Number(m[1]);
      r.blk.comparedBytes = Number(m[2]);
    } else if ((m = /^virtio-blk requestq completions (\d+) interrupts (\d+)$/.exec(line))) r.blk.requests = counts(m);
    else if ((m = /^virtio-blk status (0x[0-9a-f]+)$/.exec(line))) r.blk.status = Number(m[1]);
    else if ((m = /^virtio-net mac ([0-9a-f:]{17})$/.exec(line))) r.net.mac = m[1]!;
    else if ((m = /^virtio-net arp-reply ([\d.]+) is-at ([0-9a-f:]{17})$/.exec(line))) {
      r.net.arpReplyIp = m[1]!;
      r.net.arpReplyMac = m[2]!;
    } else if ((m = /^virtio-net (rx|tx) completions (\d+) interrupts (\d+)$/.exec(line))) {
      r.net[m[1] as 'rx' | 'tx'] = { completions: Number(m[2]), interrupts: Number(m[3]) };
    } else if ((m = /^virtio-net status (0x[0-9a-f]+)$/.exec(line))) r.net.status = Number(m[1]);
    else if ((m = /^virtio spurious-interrupts (\d+)$/.exec(line))) r.spuriousInterrupts = Number(m[1]);
  }
  return r;
}

/** One line for the test log: what was measured. */
export function describeVirtioReport(r: VirtioReport): string {
  const q = (c?: QueueCounts) => (c ? `${c.completions} completions / ${c.interrupts} interrupts` : 'missing');
  return `virtio-blk requestq ${q(r.blk.requests)}; virtio-net tx ${q(r.net.tx)}, rx ${q(r.net.rx)}; spurious ${r.spuriousInterrupts ?? '?'}`;
}

/**
 * What every run must show: the marker read from sector 0, the pattern read back equal, one interrupt per block
 * request and per transmitted frame at least (each request waits for its own), a received ARP reply from the
 * expected peer with at least one receive interrupt, and both devices still running.
 */
export function assertVirtioReport(
  r: VirtioReport,
  expected: { marker: Buffer; diskBytes: number; mac: string; peerMac: string },
  context: string,
): void {
  const { SECTOR_SIZE, SECTORS, STATUS_RUNNING, BLOCK_REQUESTS_WITHOUT_FLUSH, VIRTIO_BLK_F_FLUSH, PEER_IP } = VirtioTestGuest;
  assert.deepEqual(r.errors, [], context);
  assert.equal(r.blk.capacity, expected.diskBytes / SECTOR_SIZE, `virtio-blk capacity\n${context}`);
  assert.equal(r.blk.sector0, expected.marker.toString('hex'), `sector 0 as the guest read it\n${context}`);
  assert.equal(r.blk.comparedBytes, SECTORS * SECTOR_SIZE, context);
  assert.equal(r.blk.equalBytes, r.blk.comparedBytes, `read-back bytes equal to what was written\n${context}`);
  const flush = r.blk.acceptedFeatures !== undefined && (r.blk.acceptedFeatures & VIRTIO_BLK_F_FLUSH) !== 0n;
  const blk = r.blk.requests;
  assert.ok(blk, `virtio-blk counts\n${context}`);
  assert.equal(blk.completions, BLOCK_REQUESTS_WITHOUT_FLUSH + (flush ? 1 : 0), `virtio-blk completions\n${context}`);
  assert.ok(blk.interrupts >= blk.completions, `virtio-blk: ${blk.interrupts} interrupts for ${blk.completions} completions`);
  assert.equal(r.blk.status, STATUS_RUNNING, `virtio-blk device status\n${context}`);

  assert.equal(r.net.mac, expected.mac, `virtio-net MAC from its config space\n${context}`);
  assert.equal(r.net.arpReplyIp, PEER_IP, `ARP reply\n${context}`);
  assert.equal(r.net.arpReplyMac, expected.peerMac, `ARP reply's sender MAC\n${context}`);
  const { tx, rx } = r.net;
  assert.ok(tx && rx, `virtio-net counts\n${context}`);
  assert.ok(tx.completions > 0 && tx.interrupts >= tx.completions, `virtio-net tx: ${tx.interrupts} interrupts for ${tx.completions} completions`);
  // Receive interrupts may cover several frames (the device signals once per batch), so only "at least one".
  assert.ok(rx.completions > 0 && rx.interrupts > 0, `virtio-net rx: ${rx.interrupts} interrupts for ${rx.completions} completions`);
  assert.equal(r.net.status, STATUS_RUNNING, `virtio-net device status\n${context}`);
}

/** After the VMM exited: the marker is intact, the pattern is in sectors 8..15, and nothing else was written. */
export function assertVirtioTestDisk(path: string, marker: Buffer): void {
  const { SECTOR_SIZE, FIRST_SECTOR, SECTORS, MARKER_BYTES } = VirtioTestGuest;
  const disk = readFileSync(path);
  assert.deepEqual(disk.subarray(0, MARKER_BYTES), marker, 'sector 0 keeps the host marker');
  const start = FIRST_SECTOR * SECTOR_SIZE;
  const end = start + SECTORS * SECTOR_SIZE;
  assert.ok(disk.subarray(start, end).equals(expectedPattern(marker)), 'the guest-written sectors hold the pattern on the host');
  const untouched = Buffer.concat([disk.subarray(MARKER_BYTES, start), disk.subarray(end)]);
  assert.ok(untouched.every((b) => b === 0), 'no other byte of the disk was written');
}
