import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDisk, sniffFormat } from './open.js';
import { RawDisk } from './raw.js';

describe('raw disk', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'typevisor-raw-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

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
