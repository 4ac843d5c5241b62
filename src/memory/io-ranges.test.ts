import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemoryError, RegionGuestMemory } from './guest-memory.js';
import { GuestIoRanges } from './io-ranges.js';

const GiB = 2 ** 30;
const memory = new RegionGuestMemory([
  { gpa: 0, bytes: new Uint8Array(64 * 1024) },
  { gpa: 4 * GiB, bytes: new Uint8Array(64 * 1024) },
]);
const triples = (r: GuestIoRanges) => Array.from(r.triples.subarray(0, r.count * 3));

test('ranges that continue each other in one region merge; a gap, another region or an empty range do not add one', () => {
  const r = new GuestIoRanges(memory, 2);
  r.push(0x1000, 0x1000);
  r.push(0x2000, 0x800); // continues: merged
  r.push(0x2800, 0);
  r.push(0x4000, 0x10); // gap
  r.push(4 * GiB, 0x20); // second region at its offset 0
  r.push(4 * GiB + 0x20, 0x20); // continues there
  assert.deepEqual(triples(r), [0, 0x1000, 0x1800, 0, 0x4000, 0x10, 1, 0, 0x40]);
  assert.equal(r.count, 3);
  assert.equal(r.byteLength, 0x1800 + 0x10 + 0x40);
  assert.deepEqual(r.views().map((v) => v.length), [0x1800, 0x10, 0x40]);
  r.clear();
  assert.equal(r.count, 0);
  assert.equal(r.byteLength, 0);
});

test('a range outside RAM, or across the end of a region, is refused', () => {
  const r = new GuestIoRanges(memory);
  assert.throws(() => r.push(64 * 1024 - 8, 16), GuestMemoryError);
  assert.throws(() => r.push(2 * GiB, 1), GuestMemoryError);
  assert.throws(() => r.push(-1, 1), GuestMemoryError);
  assert.equal(r.count, 0);
});

test('consume drops whole ranges and trims the one it stops in', () => {
  const r = new GuestIoRanges(memory);
  r.push(0, 100);
  r.push(200, 100);
  r.push(400, 100);
  r.consume(150);
  assert.deepEqual(triples(r), [0, 250, 50, 0, 400, 100]);
  assert.equal(r.byteLength, 150);
  r.consume(50);
  assert.deepEqual(triples(r), [0, 400, 100]);
  r.consume(1000);
  assert.equal(r.count, 0);
  assert.equal(r.byteLength, 0);
});
