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

test('anonymous guest RAM: only the pages the guest touched are read, the rest stays holes on both sides', async () => {
  const { writeSparseFile } = await import('./format.js');
  const { readFileSync, statSync } = await import('node:fs');
  const { GuestRam, touchedExtents } = await import('../guest-ram.js');
  const size = 16 * 1024 * 1024;
  // Two ranges, as guest RAM below and above the 32-bit hole is.
  const ram = GuestRam.allocate([{ gpa: 0, size: size / 2 }, { gpa: 0x1_0000_0000, size: size / 2 }]);
  const dir = mkdtempSync(join(tmpdir(), 'tv-sparse-anon-'));
  try {
    const [low, high] = ram.memory.regions.map((r) => r.bytes) as [Uint8Array, Uint8Array];
    low[4096 + 3] = 0x11; // page 1
    high[1024 * 1024] = 0x22; // a page in the middle of the second range
    high.fill(0, 4 * 1024 * 1024, 4 * 1024 * 1024 + 8192); // touched, but zero: read, still no data to write
    high[high.length - 1] = 0x33; // the last byte
    const extents = ram.dataExtents();
    // Huge pages may back a touched page with its whole 2 MiB: extents are page-aligned and cover what was written.
    for (const list of extents) for (const [from, to] of list) assert.ok(from % 4096 === 0 && to % 4096 === 0 && to > from);
    const covers = (list: Array<[number, number]>, at: number) => list.some(([from, to]) => at >= from && at < to);
    assert.ok(covers(extents[0]!, 4096 + 3) && covers(extents[1]!, 1024 * 1024) && covers(extents[1]!, high.length - 1));
    assert.ok(!covers(extents[0]!, 6 * 1024 * 1024), `a page 2 MiB away from any write is not touched: ${JSON.stringify(extents)}`);
    const path = join(dir, 'mem');
    const written = writeSparseFile(path, [low, high], { extents });
    assert.equal(written, 3 * 64 * 1024, 'one sparse chunk per written byte (the zeroed pages are skipped)');
    assert.deepEqual(ram.dataExtents(), extents, 'writing the snapshot touched no other page');
    const back = readFileSync(path);
    assert.equal(back.length, size);
    assert.equal(Buffer.compare(back.subarray(0, size / 2), Buffer.from(low.buffer, low.byteOffset, low.length)), 0);
    assert.equal(Buffer.compare(back.subarray(size / 2), Buffer.from(high.buffer, high.byteOffset, high.length)), 0);
    assert.ok(statSync(path).blocks * 512 <= 256 * 1024, 'the file has holes');
    // A mapping nobody touched has no extents at all.
    const untouched = GuestRam.allocate([{ gpa: 0, size: 4 * 1024 * 1024 }]);
    assert.deepEqual(touchedExtents(untouched.ranges[0]!.address, 4 * 1024 * 1024), []);
    untouched.close();
  } finally {
    ram.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
