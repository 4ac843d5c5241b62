/**
 * qcow2 against QEMU's own tools: images made by qemu-img / written by
 * qemu-io are read by typevisor, and what typevisor writes is read back and
 * checked (`qemu-img check`) by QEMU.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQcow2, openDisk } from './open.js';
import { Qcow2Disk } from './qcow2.js';

let dir = '';
const at = (name: string) => join(dir, name);
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
/** Runs qemu-io commands; qemu-io reports pattern mismatches on stdout, so fail on "Pattern verification failed". */
function qemuIo(image: string, ...commands: string[]): string {
  const args = commands.flatMap((c) => ['-c', c]);
  const out = execFileSync('qemu-io', [...args, image], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.doesNotMatch(out, /Pattern verification failed|error|failed/i, out);
  return out;
}
function check(image: string): void {
  const out = qemuImg('check', image);
  assert.match(out, /No errors were found on the image/, out);
}
const sha = (path: string) => createHash('sha256').update(fs.readFileSync(path)).digest('hex');
const filled = (n: number, byte: number) => new Uint8Array(n).fill(byte);
function assertAll(bytes: Uint8Array, value: number, what: string): void {
  const bad = bytes.findIndex((b) => b !== value);
  assert.equal(bad, -1, `${what}: byte ${bad} is 0x${bytes[bad]?.toString(16)}, expected 0x${value.toString(16)}`);
}

describe('qcow2', () => {
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-qcow2-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads what qemu-io wrote, including unallocated zeroes', () => {
    qemuImg('create', '-q', '-f', 'qcow2', at('r.qcow2'), '4M');
    qemuIo(at('r.qcow2'), 'write -P 0xab 0 64k', 'write -P 0xcd 100k 10k');
    const disk = openDisk(at('r.qcow2'), { readonly: true });
    assert.ok(disk instanceof Qcow2Disk);
    assert.equal(disk.sizeBytes, 4 << 20);
    const buf = new Uint8Array(200 << 10);
    disk.read(0, buf);
    assertAll(buf.subarray(0, 64 << 10), 0xab, 'first cluster');
    assertAll(buf.subarray(64 << 10, 100 << 10), 0, 'gap');
    assertAll(buf.subarray(100 << 10, 110 << 10), 0xcd, 'second write');
    assertAll(buf.subarray(110 << 10), 0, 'tail');
    assert.throws(() => disk.write(0, filled(512, 1)), /read-only/);
    assert.throws(() => disk.read((4 << 20) - 512, new Uint8Array(1024)), /beyond the disk end/);
    disk.close();
  });

  it('writes that qemu-io reads back, across cluster boundaries, and qemu-img check passes', () => {
    qemuImg('create', '-q', '-f', 'qcow2', at('w.qcow2'), '16M');
    qemuIo(at('w.qcow2'), 'write -P 0x44 128k 64k');
    const disk = openDisk(at('w.qcow2'), { readonly: false });
    disk.write(60 << 10, filled(10 << 10, 0x11)); // crosses the 64k boundary, both clusters new
    disk.write(150 << 10, filled(100 << 10, 0x22)); // half into an allocated cluster, half new
    disk.write(1000, filled(10, 0x33)); // inside an already allocated cluster
    disk.write((16 << 20) - 4096, filled(4096, 0x55)); // the disk's last bytes
    disk.flush();
    check(at('w.qcow2'));
    disk.close();
    check(at('w.qcow2'));
    qemuIo(at('w.qcow2'),
      'read -P 0 0 1000', 'read -P 0x33 1000 10', 'read -P 0 1010 60430', 'read -P 0x11 60k 10k',
      'read -P 0 70k 58k', 'read -P 0x44 128k 22k', 'read -P 0x22 150k 100k', 'read -P 0 250k 6k',
      'read -P 0x55 16380k 4k');
  });

  it('grows the refcount table over many small-cluster allocations', () => {
    // 512-byte clusters: one refcount block covers 256 clusters, a one-cluster table 64 blocks (8 MiB).
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', at('g.qcow2'), '24M');
    const disk = openDisk(at('g.qcow2'), { readonly: false });
    const chunk = new Uint8Array(64 << 10);
    for (let off = 0; off < 12 << 20; off += chunk.length) {
      chunk.fill((off >> 16) & 0xff);
      disk.write(off, chunk);
    }
    disk.close();
    check(at('g.qcow2'));
    const info = JSON.parse(qemuImg('info', '--output=json', at('g.qcow2'))) as { 'actual-size': number };
    assert.ok(info['actual-size'] > 12 << 20);
    qemuIo(at('g.qcow2'), 'read -P 0 0 64k', 'read -P 0x05 320k 64k', 'read -P 0xbf 12224k 64k', 'read -P 0 12m 1m');
    const reopened = openDisk(at('g.qcow2'), { readonly: true });
    const got = new Uint8Array(64 << 10);
    reopened.read(100 << 16, got);
    assertAll(got, 100, 'chunk 100 after reopen');
    reopened.close();
  });

  it('leaves a consistent image when the VMM dies without flushing', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', at('crash.qcow2'), '8M');
    const disk = openDisk(at('crash.qcow2'), { readonly: false });
    disk.write(0, filled(1 << 20, 0x61));
    disk.flush(); // durable: must survive
    // Enough allocations to force intermediate metadata flushes, then "crash" (close the fd, no flush).
    for (let off = 1 << 20; off < 6 << 20; off += 8192) disk.write(off, filled(4096, 0x62));
    disk.discard(0, 64 << 10);
    (disk as unknown as { file: { close(): void } }).file.close();
    let status = 0;
    try {
      qemuImg('check', at('crash.qcow2'));
    } catch (err) {
      status = (err as { status: number }).status;
    }
    assert.ok(status === 0 || status === 3, `qemu-img check exit ${status}: 0 (clean) or 3 (leaked clusters only) expected`);
    qemuIo(at('crash.qcow2'), 'read -P 0x61 64k 960k');
  });

  it('handles a disk size that is not a multiple of the cluster size', () => {
    qemuImg('create', '-q', '-f', 'qcow2', at('odd.qcow2'), String((1 << 20) + 512));
    const disk = openDisk(at('odd.qcow2'), { readonly: false });
    assert.equal(disk.sizeBytes, (1 << 20) + 512);
    disk.write(1 << 20, filled(512, 0x42));
    disk.writeZeroes((1 << 20) - 512, 1024, true);
    disk.write((1 << 20) - 1024, filled(512, 0x43));
    disk.close();
    check(at('odd.qcow2'));
    qemuIo(at('odd.qcow2'), 'read -P 0x43 1047552 512', 'read -P 0 1048064 1024');
  });

  it('copies on write from a backing file and leaves the backing file unchanged', () => {
    qemuImg('create', '-q', '-f', 'qcow2', at('base.qcow2'), '1M');
    qemuIo(at('base.qcow2'), 'write -P 0xab 0 256k');
    const baseHash = sha(at('base.qcow2'));
    createQcow2(at('over.qcow2'), { backingFile: 'base.qcow2', backingFormat: 'qcow2' });
    const disk = openDisk(at('over.qcow2'), { readonly: false });
    assert.equal(disk.sizeBytes, 1 << 20);
    disk.write(60 << 10, filled(10 << 10, 0x11));
    disk.write(200 << 10, filled(512, 0x22));
    const buf = new Uint8Array(256 << 10);
    disk.read(0, buf);
    assertAll(buf.subarray(0, 60 << 10), 0xab, 'before write');
    assertAll(buf.subarray(60 << 10, 70 << 10), 0x11, 'written');
    assertAll(buf.subarray(70 << 10, 200 << 10), 0xab, 'after write');
    assert.equal(disk.identity().length, 2);
    disk.close();
    check(at('over.qcow2'));
    assert.equal(sha(at('base.qcow2')), baseHash);
    qemuIo(at('over.qcow2'), 'read -P 0xab 0 60k', 'read -P 0x11 60k 10k', 'read -P 0xab 70k 130k',
      'read -P 0x22 200k 512', 'read -P 0xab 205312 56832', 'read -P 0 256k 768k');
  });

  it('reads through a three-level chain (raw <- qcow2 <- qcow2)', () => {
    const raw = filled(1 << 20, 0x01);
    fs.writeFileSync(at('l0.raw'), raw);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'l0.raw', '-F', 'raw', at('l1.qcow2'));
    qemuIo(at('l1.qcow2'), 'write -P 0x02 64k 64k');
    createQcow2(at('l2.qcow2'), { backingFile: join(dir, 'l1.qcow2') }); // absolute name, format sniffed
    const disk = openDisk(at('l2.qcow2'), { readonly: false });
    disk.write(128 << 10, filled(4096, 0x03));
    const buf = new Uint8Array(256 << 10);
    disk.read(0, buf);
    assertAll(buf.subarray(0, 64 << 10), 0x01, 'from raw');
    assertAll(buf.subarray(64 << 10, 128 << 10), 0x02, 'from l1');
    assertAll(buf.subarray(128 << 10, (128 << 10) + 4096), 0x03, 'from l2');
    assertAll(buf.subarray((128 << 10) + 4096), 0x01, 'raw again');
    assert.equal(disk.identity().length, 3);
    disk.close();
    check(at('l2.qcow2'));
    qemuIo(at('l2.qcow2'), 'read -P 0x01 0 64k', 'read -P 0x02 64k 64k', 'read -P 0x03 128k 4k', 'read -P 0x01 132k 124k');
  });

  it('discards and writes zeroes over a backing file', () => {
    qemuImg('create', '-q', '-f', 'qcow2', at('zb.qcow2'), '1M');
    qemuIo(at('zb.qcow2'), 'write -P 0xee 0 1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'zb.qcow2', '-F', 'qcow2', at('z.qcow2'));
    qemuIo(at('z.qcow2'), 'write -P 0x77 0 512k');
    const disk = openDisk(at('z.qcow2'), { readonly: false });
    assert.ok(disk.supportsDiscard && disk.supportsWriteZeroes);
    disk.writeZeroes(32 << 10, 160 << 10, true); // partial, 2 whole clusters, partial
    disk.writeZeroes(256 << 10, 64 << 10, false); // keeps the allocation
    disk.writeZeroes(640 << 10, 64 << 10, true); // unallocated over backing data
    disk.discard(384 << 10, 64 << 10);
    disk.discard(5 << 10, 1 << 10); // partial cluster: advisory, ignored
    disk.flush();
    const got = new Uint8Array(64 << 10);
    disk.read(640 << 10, got);
    assertAll(got, 0, 'zeroed over backing');
    disk.close();
    check(at('z.qcow2'));
    qemuIo(at('z.qcow2'), 'read -P 0x77 0 32k', 'read -P 0 32k 160k', 'read -P 0x77 192k 64k', 'read -P 0 256k 64k',
      'read -P 0x77 320k 64k', 'read -P 0 384k 64k', 'read -P 0x77 448k 64k', 'read -P 0xee 512k 128k',
      'read -P 0 640k 64k', 'read -P 0xee 704k 320k');
  });

  it('reads compressed clusters and rewrites them on write', () => {
    const raw = new Uint8Array(512 << 10);
    for (let i = 0; i < raw.length; i++) raw[i] = (i >> 12) & 0xff;
    fs.writeFileSync(at('c.raw'), raw);
    qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', at('c.raw'), at('c.qcow2'));
    const disk = openDisk(at('c.qcow2'), { readonly: false });
    const got = new Uint8Array(raw.length);
    disk.read(0, got);
    assert.deepEqual(got, raw);
    disk.write(70 << 10, filled(100, 0x99));
    disk.close();
    check(at('c.qcow2'));
    qemuIo(at('c.qcow2'), 'read -P 0x11 68k 2k', 'read -P 0x99 70k 100', 'read -P 0x12 72k 4k', 'read -P 0x7f 508k 4k');
  });

  it('reads version 2 images', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', at('v2.qcow2'), '1M');
    qemuIo(at('v2.qcow2'), 'write -P 0x5a 4k 8k');
    const disk = openDisk(at('v2.qcow2'), { readonly: false }) as Qcow2Disk;
    assert.equal(disk.info.version, 2);
    const got = new Uint8Array(8 << 10);
    disk.read(4 << 10, got);
    assertAll(got, 0x5a, 'v2 data');
    disk.writeZeroes(0, 128 << 10, true);
    disk.close();
    check(at('v2.qcow2'));
    qemuIo(at('v2.qcow2'), 'read -P 0 0 128k');
  });

  it('keeps refcounts of every width and large clusters consistent for qemu-img check', () => {
    for (const options of ['refcount_bits=1,cluster_size=4k', 'refcount_bits=2,cluster_size=4k', 'refcount_bits=8', 'refcount_bits=64', 'cluster_size=2M', 'lazy_refcounts=on']) {
      const name = `rc-${options.replace(/[=,]/g, '-')}.qcow2`;
      qemuImg('create', '-q', '-f', 'qcow2', '-o', options, at(name), '8M');
      const disk = openDisk(at(name), { readonly: false });
      for (let off = 0; off < 8 << 20; off += 300_000) disk.write(off, filled(5000, 0x3c));
      disk.discard(0, 1 << 20);
      disk.close();
      check(at(name));
      qemuIo(at(name), 'read -P 0x3c 1200000 5000', 'read -P 0 1205000 95000');
    }
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', at('ext.qcow2'), '1M');
    assert.throws(() => openDisk(at('ext.qcow2'), { readonly: true }), /extended L2 entries/);
  });

  it('creates images qemu-img accepts', () => {
    createQcow2(at('new.qcow2'), { sizeBytes: 3 * 2 ** 30, clusterBits: 12 });
    check(at('new.qcow2'));
    const info = JSON.parse(qemuImg('info', '--output=json', at('new.qcow2'))) as Record<string, unknown>;
    assert.equal(info["virtual-size"], 3 * 2 ** 30);
    assert.equal(info['cluster-size'], 4096);
    assert.throws(() => createQcow2(at('new.qcow2'), { sizeBytes: 1 << 20 }), /EEXIST/);
    assert.throws(() => createQcow2(at('bad.qcow2'), { sizeBytes: 1000 }), /multiple of 512/);
    assert.throws(() => createQcow2(at('bad.qcow2'), { sizeBytes: 1 << 20, backingFile: 'missing.img' }), /ENOENT/);
  });

  it('refuses bad images with clear errors', () => {
    const good = fs.readFileSync(at('r.qcow2'));
    fs.writeFileSync(at('trunc.qcow2'), good.subarray(0, 40));
    assert.throws(() => openDisk(at('trunc.qcow2'), { format: 'qcow2', readonly: true }), /truncated header/);
    fs.writeFileSync(at('magic.img'), filled(4096, 0x41));
    assert.throws(() => openDisk(at('magic.img'), { format: 'qcow2', readonly: true }), /bad magic/);
    const feature = Buffer.from(good);
    feature.writeBigUInt64BE(1n << 20n, 72);
    fs.writeFileSync(at('feature.qcow2'), feature);
    assert.throws(() => openDisk(at('feature.qcow2'), { readonly: true }), /unknown bits 0x100000/);
    const l1 = Buffer.from(good);
    const l1Offset = Number(l1.readBigUInt64BE(40));
    l1.writeBigUInt64BE((1n << 63n) | 0x40000000n, l1Offset);
    fs.writeFileSync(at('l1.bad.qcow2'), l1);
    assert.throws(() => openDisk(at('l1.bad.qcow2'), { readonly: true }), /L1 entry 0 .* points outside the file/);
    // An L2 entry aimed at the L1 table: reads are harmless, writes must not clobber metadata.
    const overlap = Buffer.from(good);
    const l2Offset = Number(overlap.readBigUInt64BE(l1Offset) & 0x00fffffffffffe00n);
    overlap.writeBigUInt64BE((1n << 63n) | BigInt(l1Offset), l2Offset); // guest cluster 0 -> the L1 table, "copied"
    fs.writeFileSync(at('overlap.qcow2'), overlap);
    const corrupt = openDisk(at('overlap.qcow2'), { readonly: false });
    corrupt.read(0, new Uint8Array(512));
    assert.throws(() => corrupt.write(0, filled(512, 1)), /points into the image's own metadata/);
    corrupt.close();
    assert.deepEqual(fs.readFileSync(at('overlap.qcow2')).subarray(l1Offset, l1Offset + 8), overlap.subarray(l1Offset, l1Offset + 8), 'L1 intact');
    // Discarding a cluster whose L2 entry points far beyond the file (found by the qcow2 fuzz target):
    // nothing to release, no refcount-table growth, no crash.
    const far = Buffer.from(good);
    far.writeBigUInt64BE((1n << 63n) | (1n << 50n), l2Offset);
    fs.writeFileSync(at('far.qcow2'), far);
    const farDisk = openDisk(at('far.qcow2'), { readonly: false });
    assert.throws(() => farDisk.read(0, new Uint8Array(512)), /points outside the file/);
    farDisk.discard(0, 64 << 10);
    farDisk.close();
    // Discarding a cluster aimed at the L1 table must not free (hole-punch) the L1 table.
    const aimed = openDisk(at('overlap.qcow2'), { readonly: false });
    aimed.discard(0, 64 << 10);
    aimed.close();
    assert.deepEqual(fs.readFileSync(at('overlap.qcow2')).subarray(l1Offset, l1Offset + 8), overlap.subarray(l1Offset, l1Offset + 8));
    assert.throws(() => openDisk(at('nope.qcow2'), { readonly: true }), /ENOENT/);
    assert.throws(() => openDisk(at('r.qcow2'), { format: 'vmdk' as 'raw', readonly: true }), /unsupported format 'vmdk'/);
    qemuImg('create', '-q', '-f', 'qcow2', at('snap.qcow2'), '1M');
    qemuImg('snapshot', '-c', 's1', at('snap.qcow2'));
    assert.throws(() => openDisk(at('snap.qcow2'), { readonly: false }), /internal snapshot/);
    openDisk(at('snap.qcow2'), { readonly: true }).close();
    fs.symlinkSync('loop-b.qcow2', at('loop-a.qcow2'));
    createQcow2(at('loop-b.qcow2'), { sizeBytes: 1 << 20 });
    // Point loop-b at itself through the symlink: the chain never ends.
    const loop = Buffer.from(fs.readFileSync(at('loop-b.qcow2')));
    const name = Buffer.from('loop-a.qcow2');
    loop.writeBigUInt64BE(512n, 8);
    loop.writeUInt32BE(name.length, 16);
    name.copy(loop, 512);
    fs.writeFileSync(at('loop-b.qcow2'), loop);
    assert.throws(() => openDisk(at('loop-b.qcow2'), { readonly: true }), /backing chain deeper than 16/);
  });
});
