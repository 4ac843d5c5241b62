import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
import { GuestIoRanges } from '../../../memory/io-ranges.js';
import { ChainLengthError, ChainReader, ChainWriter } from './chain.js';

function memoryWith(bytes: number[], at: number): RegionGuestMemory {
  const m = RegionGuestMemory.anonymous(0x1000);
  m.write(at, Uint8Array.from(bytes));
  return m;
}

test('reader crosses buffer boundaries and skips zero-length buffers', () => {
  const m = memoryWith([1, 2, 3, 4, 5, 6, 7, 8], 0x100);
  const r = new ChainReader(m, [
    { addr: 0x100, len: 3 },
    { addr: 0x200, len: 0 },
    { addr: 0x103, len: 5 },
  ]);
  assert.equal(r.total, 8);
  assert.deepEqual([...r.read(2)], [1, 2]);
  // 0x102 and 0x103.. continue each other in guest memory: one view.
  const views = r.views(3);
  assert.deepEqual(views.map((v) => [...v]), [[3, 4, 5]]);
  assert.equal(r.position, 5);
  r.skip(1);
  assert.deepEqual([...r.readAll()], [7, 8]);
  assert.equal(r.remaining, 0);
  assert.throws(() => r.read(1), ChainLengthError);
  assert.deepEqual(r.views(10), []);
});

test('writer fills across buffers, refuses overflow, writeSome truncates', () => {
  const m = RegionGuestMemory.anonymous(0x1000);
  const w = new ChainWriter(m, [
    { addr: 0x10, len: 2 },
    { addr: 0x20, len: 3 },
  ]);
  w.write(Uint8Array.of(9, 8, 7));
  assert.deepEqual([...m.slice(0x10, 2)], [9, 8]);
  assert.deepEqual([...m.slice(0x20, 1)], [7]);
  assert.throws(() => w.write(new Uint8Array(3)), ChainLengthError);
  assert.equal(w.writeSome(Uint8Array.of(1, 2, 3, 4)), 2);
  assert.equal(w.remaining, 0);
  assert.equal(w.position, 5);
  const f = new ChainWriter(m, [{ addr: 0x40, len: 4 }]);
  assert.equal(f.fillWith(10, (v) => v.fill(0xcc)), 4);
  assert.deepEqual([...m.slice(0x40, 4)], [0xcc, 0xcc, 0xcc, 0xcc]);
});

test('views merge buffers adjacent in guest memory, not distant ones or ones in different regions', () => {
  const m = RegionGuestMemory.anonymous(0x4000);
  for (let i = 0; i < 0x4000; i++) m.writeU8(i, i & 0xff);
  const r = new ChainReader(m, [
    { addr: 0x1000, len: 0x1000 },
    { addr: 0x2000, len: 0x1000 },
    { addr: 0x3000, len: 0x800 },
    { addr: 0x0, len: 0x800 },
    { addr: 0x800, len: 0x10 },
  ]);
  const views = r.views(r.remaining);
  assert.deepEqual(views.map((v) => [v.byteOffset, v.length]), [[0x1000, 0x2800], [0, 0x810]]);
  assert.equal(r.remaining, 0);
  // A partial request stops inside a buffer, and the next call continues there.
  const p = new ChainReader(m, [{ addr: 0x100, len: 0x100 }, { addr: 0x200, len: 0x100 }]);
  assert.deepEqual(p.views(0x180).map((v) => [v.byteOffset, v.length]), [[0x100, 0x180]]);
  assert.deepEqual(p.views(0x100).map((v) => [v.byteOffset, v.length]), [[0x280, 0x80]]);
  // Two regions that touch in guest-physical space are two mappings: never one view.
  const two = new RegionGuestMemory([{ gpa: 0, bytes: new Uint8Array(0x100) }, { gpa: 0x100, bytes: new Uint8Array(0x100) }]);
  const w = new ChainWriter(two, [{ addr: 0x80, len: 0x80 }, { addr: 0x100, len: 0x80 }]);
  assert.deepEqual(w.views(0x100).map((v) => v.length), [0x80, 0x80]);
});

test('ranges cover the same bytes as views, advance the cursor the same way, and merge the same buffers', () => {
  const m = RegionGuestMemory.anonymous(0x4000);
  const buffers = [
    { addr: 0x1000, len: 0x1000 },
    { addr: 0x2000, len: 0x0 },
    { addr: 0x2000, len: 0x1000 },
    { addr: 0x0, len: 0x800 },
  ];
  const ranges = new GuestIoRanges(m);
  const r = new ChainReader(m, buffers);
  assert.equal(r.ranges(0x2100, ranges), 0x2100);
  assert.equal(r.position, 0x2100);
  assert.deepEqual(Array.from(ranges.triples.subarray(0, ranges.count * 3)), [0, 0x1000, 0x2000, 0, 0, 0x100]);
  assert.equal(r.ranges(0x10000, ranges), 0x700);
  assert.equal(r.remaining, 0);
  assert.deepEqual(Array.from(ranges.triples.subarray(0, ranges.count * 3)), [0, 0x1000, 0x2000, 0, 0, 0x800]);
  const v = new ChainReader(m, buffers).views(0x2800);
  assert.deepEqual(v.map((x) => [x.byteOffset, x.length]), ranges.views().map((x) => [x.byteOffset, x.length]));
});
