import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
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
  const views = r.views(3);
  assert.deepEqual(views.map((v) => [...v]), [[3], [4, 5]]);
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
