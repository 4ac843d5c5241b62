import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDisk, sniffFormat } from './open.js';
import { RawDisk } from './raw.js';
import { ImageFile } from './image-file.js';

describe('raw disk', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-raw-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('vectored reads and writes match buffer-by-buffer ones, across more buffers than one preadv takes', () => {
    const path = join(dir, 'v.img');
    const size = 8 << 20;
    fs.writeFileSync(path, new Uint8Array(size));
    const disk = RawDisk.open(path, false);
    // 1500 buffers of odd sizes (two preadv/pwritev calls), some empty, holding a counting pattern.
    const sizes = Array.from({ length: 1500 }, (_, i) => (i % 7 === 3 ? 0 : 1 + ((i * 37) % 3000)));
    const total = sizes.reduce((a, b) => a + b, 0);
    const pattern = new Uint8Array(total).map((_, i) => (i * 31 + 7) & 0xff);
    const pieces: Uint8Array[] = [];
    for (let at = 0, i = 0; i < sizes.length; at += sizes[i]!, i++) pieces.push(pattern.slice(at, at + sizes[i]!));
    disk.writev(12345, pieces);
    const plain = new Uint8Array(total);
    disk.read(12345, plain);
    assert.deepEqual(plain, pattern);
    const back = sizes.map((n) => new Uint8Array(n).fill(0xee));
    disk.readv(12345, back);
    assert.deepEqual(Buffer.concat(back), Buffer.from(pattern));
    assert.throws(() => disk.readv(size - 10, [new Uint8Array(8), new Uint8Array(8)]), /beyond the disk end/);
    const ro = RawDisk.open(path, true);
    assert.throws(() => ro.writev(0, [new Uint8Array(1), new Uint8Array(1)]), /read-only/);
    disk.close();
    ro.close();
  });

  it('a vectored read past the end of a shorter file reads zeroes', () => {
    const path = join(dir, 'short.img');
    fs.writeFileSync(path, new Uint8Array(6000).fill(0x42));
    const file = ImageFile.open(path, false);
    const into = [new Uint8Array(4096).fill(1), new Uint8Array(4096).fill(1), new Uint8Array(100).fill(1)];
    file.readvAt(0, into);
    assert.equal(into[0]!.every((b) => b === 0x42), true);
    assert.deepEqual([into[1]![0], into[1]![6000 - 4096 - 1], into[1]![6000 - 4096], into[1]![4095]], [0x42, 0x42, 0, 0]);
    assert.equal(into[2]!.every((b) => b === 0), true);
    file.close();
  });

  it('reads, writes, flushes, discards and zeroes', () => {
    const path = join(dir, 'd.img');
    fs.writeFileSync(path, new Uint8Array(1 << 20).fill(0x5a));
    assert.equal(sniffFormat(path), 'raw');
    const disk = openDisk(path, { readonly: false });
    assert.ok(disk instanceof RawDisk);
    assert.equal(disk.sizeBytes, 1 << 20);
    disk.write(4096, new Uint8Array(8192).fill(0x11));
    disk.flush();
    const got = new Uint8Array(3 * 4096);
    disk.read(0, got);
    assert.deepEqual([got[0], got[4096], got[12287]], [0x5a, 0x11, 0x11]);
    disk.discard(65536, 65536);
    disk.writeZeroes(200000, 1000, false);
    disk.writeZeroes(300000, 70000, true);
    const z = new Uint8Array(70000);
    disk.read(300000, z);
    assert.ok(z.every((b) => b === 0));
    disk.read(200000, z.subarray(0, 1000));
    assert.ok(z.subarray(0, 1000).every((b) => b === 0));
    const edge = new Uint8Array(2);
    disk.read(199999, edge);
    assert.deepEqual([...edge], [0x5a, 0]);
    assert.throws(() => disk.read((1 << 20) - 1, new Uint8Array(2)), /beyond the disk end/);
    assert.throws(() => disk.write(-1, new Uint8Array(1)), /invalid disk range/);
    const [id] = disk.identity();
    assert.equal(id!.path, path);
    assert.equal(id!.size, 1 << 20);
    disk.close();
    assert.throws(() => disk.read(0, new Uint8Array(1)), /closed/);
  });

  it('refuses writes on a read-only disk', () => {
    const path = join(dir, 'ro.img');
    fs.writeFileSync(path, new Uint8Array(4096));
    const disk = openDisk(path, { readonly: true, format: 'raw' });
    assert.throws(() => disk.write(0, new Uint8Array(1)), /read-only/);
    assert.throws(() => disk.discard(0, 512), /read-only/);
    disk.close();
  });
});
