import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeState, encodeState, MEMORY_FILE, readStateFile, SnapshotFormatError, STATE_FILE, writeSnapshotDir } from './format.js';

test('state round-trips and every kind of damage is named', () => {
  const bytes = encodeState({ version: 1, hello: 'world', n: [1, 2, 3] });
  assert.deepEqual(decodeState(bytes), { version: 1, hello: 'world', n: [1, 2, 3] });
  assert.throws(() => decodeState(bytes.subarray(0, 20)), /truncated/);
  assert.throws(() => decodeState(bytes.subarray(0, bytes.length - 1)), /truncated/);
  const corrupt = Buffer.from(bytes);
  corrupt[corrupt.length - 2] ^= 0x40;
  assert.throws(() => decodeState(corrupt), /corrupted \(checksum mismatch\)/);
  const badMagic = Buffer.from(bytes);
  badMagic[0] = 0x58;
  assert.throws(() => decodeState(badMagic), /not a typevisor snapshot/);
  const newer = Buffer.from(bytes);
  newer.writeUInt32LE(99, 8);
  assert.throws(() => decodeState(newer), /format version 99/);
  assert.throws(() => decodeState(newer), SnapshotFormatError);
});

test('a failed write leaves nothing under the final name, a good one is complete', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'tv-snapfmt-'));
  try {
    const final = join(parent, 'snap');
    await assert.rejects(
      writeSnapshotDir(final, async (tmp) => {
        writeFileSync(join(tmp, STATE_FILE), 'half');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(existsSync(final), false);
    assert.deepEqual(readdirSync(parent), []);
    await writeSnapshotDir(final, async (tmp) => {
      writeFileSync(join(tmp, STATE_FILE), encodeState({ version: 1 }));
      writeFileSync(join(tmp, MEMORY_FILE), Buffer.alloc(4096));
    });
    assert.deepEqual(readStateFile(final), { version: 1 });
    await assert.rejects(writeSnapshotDir(final, async () => undefined), /already exists/);
    assert.throws(() => readStateFile(join(parent, 'missing')), /does not exist/);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('memory is written sparsely: zero chunks become holes and read back as zeros', async () => {
  const { writeSparseFile } = await import('./format.js');
  const { readFileSync, statSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'tv-sparse-'));
  try {
    const a = new Uint8Array(1024 * 1024);
    a[5] = 7;
    a[700_000] = 9;
    const b = new Uint8Array(512 * 1024);
    const path = join(dir, 'mem');
    const written = writeSparseFile(path, [a, b]);
    assert.equal(written, 2 * 64 * 1024);
    assert.equal(statSync(path).size, a.length + b.length);
    const back = readFileSync(path);
    assert.equal(back[5], 7);
    assert.equal(back[700_000], 9);
    assert.equal(back.subarray(a.length).every((x) => x === 0), true);
    assert.ok(statSync(path).blocks * 512 < 1024 * 1024, 'the file has holes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memory backed by a memfd: only its data extents are read, the rest stays holes on both sides', async () => {
  const { writeSparseFile } = await import('./format.js');
  const { fstatSync, ftruncateSync, readFileSync, statSync } = await import('node:fs');
  const { check, MAP_SHARED, native, PROT_READ, PROT_WRITE } = await import('../../sys/native.js');
  const size = 16 * 1024 * 1024;
  const memfd = check(native().memfdCreate('tv-sparse-test', 0), 'memfd_create');
  const dir = mkdtempSync(join(tmpdir(), 'tv-sparse-memfd-'));
  try {
    ftruncateSync(memfd, size);
    const m = native().mmap(memfd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    assert.notEqual(typeof m, 'number', 'mmap of the memfd');
    const ram = new Uint8Array((m as { buffer: ArrayBuffer }).buffer);
    ram[4096 + 3] = 0x11; // page 1
    ram[9 * 1024 * 1024] = 0x22; // a page in the middle
    ram.fill(0, 12 * 1024 * 1024, 12 * 1024 * 1024 + 8192); // touched, but zero: allocated, still no data to write
    ram[size - 1] = 0x33; // the last byte
    const allocatedBefore = fstatSync(memfd).blocks;
    // Two regions back to back, as guest RAM below and above the 32-bit hole is.
    const regions = [ram.subarray(0, 8 * 1024 * 1024), ram.subarray(8 * 1024 * 1024)];
    const path = join(dir, 'mem');
    const written = writeSparseFile(path, regions, { backingFd: memfd });
    assert.equal(written, 3 * 4096, 'one page per data extent (the zeroed pages are skipped)');
    assert.equal(fstatSync(memfd).blocks, allocatedBefore, 'the memfd holes were not read (reading would allocate them)');
    const back = readFileSync(path);
    assert.equal(back.length, size);
    assert.equal(Buffer.compare(back, Buffer.from(ram.buffer, ram.byteOffset, size)), 0, 'the file holds exactly the RAM');
    assert.ok(statSync(path).blocks * 512 <= 64 * 1024, 'the file has holes');
    native().munmap((m as { address: bigint }).address, size);
  } finally {
    native().close(memfd);
    rmSync(dir, { recursive: true, force: true });
  }
});
