import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestRamRanges, lowRamEnd } from './memory-map.js';
import { FOUR_GIB, GiB, MiB, MMIO_HOLE_START } from './layout.js';

test('small guests get one range at 0', () => {
  assert.deepEqual(guestRamRanges(512 * MiB), [{ gpa: 0, size: 512 * MiB }]);
  assert.deepEqual(guestRamRanges(3 * GiB), [{ gpa: 0, size: 3 * GiB }]);
});

test('RAM beyond the MMIO hole continues at 4 GiB', () => {
  const ranges = guestRamRanges(8 * GiB);
  assert.deepEqual(ranges, [
    { gpa: 0, size: MMIO_HOLE_START },
    { gpa: FOUR_GIB, size: 5 * GiB },
  ]);
  assert.equal(lowRamEnd(ranges), MMIO_HOLE_START);
});

test('bad sizes are refused with the reason', () => {
  assert.throws(() => guestRamRanges(1 * MiB), /below the minimum/);
  assert.throws(() => guestRamRanges(64 * MiB + 1), /multiple of the 4096-byte page size/);
  assert.throws(() => guestRamRanges(-5), /positive integer/);
  assert.throws(() => guestRamRanges(200 * GiB), /above the maximum/);
  assert.throws(() => lowRamEnd([{ gpa: FOUR_GIB, size: GiB }]), /starting at guest address 0/);
});
