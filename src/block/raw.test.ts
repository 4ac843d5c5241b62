import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDisk, sniffFormat } from './open.js';
import { RawDisk } from './raw.js';
import { ImageFile } from './image-file.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { GuestIoRanges } from '../memory/io-ranges.js';
import { native } from '../sys/native.js';

describe('raw disk', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-raw-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Guest memory of two regions (the second at 4 GiB, as above the PCI hole) filled with `fill`. */
  function twoRegionMemory(size: number, fill: number): RegionGuestMemory {
    return new RegionGuestMemory([
      { gpa: 0, bytes: new Uint8Array(size).fill(fill) },
      { gpa: 4 * 2 ** 30, bytes: new Uint8Array(size).fill(fill) },
    ]);
  }

  it('vectored reads and writes from guest ranges match buffer-by-buffer ones, across more ranges than one preadv takes', () => {
    const path = join(dir, 'v.img');
    const size = 8 << 20;
    fs.writeFileSync(path, new Uint8Array(size));
    const disk = RawDisk.open(path, false);
    // 1500 ranges of odd sizes (two preadv/pwritev calls), some empty, in both regions, with a gap after each so
    // that none merge, holding a counting pattern.
    const sizes = Array.from({ length: 1500 }, (_, i) => (i % 7 === 3 ? 0 : 1 + ((i * 37) % 3000)));
    const total = sizes.reduce((a, b) => a + b, 0);
    const pattern = new Uint8Array(total).map((_, i) => (i * 31 + 7) & 0xff);
    const rangesIn = (memory: RegionGuestMemory): GuestIoRanges => {
      const ranges = new GuestIoRanges(memory);
      let gpa = 0;
      sizes.forEach((n, i) => {
        if (i === 700) gpa = 4 * 2 ** 30;
        ranges.push(gpa, n);
        gpa += n + 1;
      });
      return ranges;
    };
    const source = twoRegionMemory(4 << 20, 0);
    const out = rangesIn(source);
    assert.equal(out.count, sizes.filter((n) => n > 0).length);
    for (let at = 0, i = 0; i < out.count; i++) {
      const view = out.views()[i]!;
      view.set(pattern.subarray(at, at + view.length));
      at += view.length;
    }
    disk.writev(12345, out);
    const plain = new Uint8Array(total);
    disk.read(12345, plain);
    assert.deepEqual(plain, pattern);
    const target = twoRegionMemory(4 << 20, 0xee);
    const back = rangesIn(target);
    const views = back.views();
    disk.readv(12345, back);
    assert.deepEqual(Buffer.concat(views), Buffer.from(pattern));
    const two = new GuestIoRanges(target);
    two.push(0, 8);
    two.push(100, 8);
    assert.throws(() => disk.readv(size - 10, two), /beyond the disk end/);
    const ro = RawDisk.open(path, true);
    assert.throws(() => ro.writev(0, two), /read-only/);
    disk.close();
    ro.close();
  });

  it('a vectored read past the end of a shorter file reads zeroes', () => {
    const path = join(dir, 'short.img');
    fs.writeFileSync(path, new Uint8Array(6000).fill(0x42));
    const file = ImageFile.open(path, false);
    const memory = twoRegionMemory(16384, 1);
    const ranges = new GuestIoRanges(memory);
    ranges.push(0, 4096);
    ranges.push(8192, 4096);
    ranges.push(4 * 2 ** 30, 100);
    const into = ranges.views();
    file.readvAt(0, ranges);
    assert.equal(into[0]!.every((b) => b === 0x42), true);
    assert.deepEqual([into[1]![0], into[1]![6000 - 4096 - 1], into[1]![6000 - 4096], into[1]![4095]], [0x42, 0x42, 0, 0]);
    assert.equal(into[2]!.every((b) => b === 0), true);
    file.close();
  });

  it('the addon refuses a range outside its region, and a region index that does not exist', () => {
    const path = join(dir, 'bad.img');
    fs.writeFileSync(path, new Uint8Array(4096));
    const fd = fs.openSync(path, 'r+');
    try {
      const region = new Uint8Array(1024);
      const EFAULT = 14;
      assert.equal(native().preadvRanges(fd, [region], Float64Array.of(0, 1000, 100), 0, 1, 0), -EFAULT);
      assert.equal(native().pwritevRanges(fd, [region], Float64Array.of(1, 0, 8), 0, 1, 0), -EFAULT);
      assert.equal(native().preadvRanges(fd, [region], Float64Array.of(0, -1, 8), 0, 1, 0), -EFAULT);
      // count beyond the triples given
      assert.ok(native().preadvRanges(fd, [region], Float64Array.of(0, 0, 8), 0, 2, 0) < 0);
      assert.equal(native().preadvRanges(fd, [region], Float64Array.of(0, 0, 8), 0, 1, 0), 8);
    } finally {
      fs.closeSync(fd);
    }
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
