import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestRamRanges } from '../arch/x86_64/memory-map.js';
import { GiB, MiB } from '../arch/x86_64/layout.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { buildE820, E820Type, readE820FromBootParams, writeE820ToBootParams } from './e820.js';

const { RAM, RESERVED } = E820Type;

test('small guest: low RAM, EBDA..1 MiB reserved, RAM from 1 MiB, ECAM reserved', () => {
  assert.deepEqual(buildE820(guestRamRanges(512 * MiB)), [
    { addr: 0, size: 0x9fc00, type: RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: RESERVED },
    { addr: 0x100000, size: 512 * MiB - 0x100000, type: RAM },
    { addr: 0xe0000000, size: 0x100000, type: RESERVED },
  ]);
});

test('big guest: RAM above 4 GiB after the ECAM window', () => {
  const map = buildE820(guestRamRanges(6 * GiB));
  assert.equal(map.length, 5);
  assert.deepEqual(map[2], { addr: 0x100000, size: 3 * GiB - 0x100000, type: RAM });
  assert.deepEqual(map[3], { addr: 0xe0000000, size: 0x100000, type: RESERVED });
  assert.deepEqual(map[4], { addr: 4 * GiB, size: 3 * GiB, type: RAM });
});

test('boot_params e820 table: 20-byte packed entries at 0x2d0, count at 0x1e8', () => {
  const map = buildE820(guestRamRanges(6 * GiB));
  const page = new Uint8Array(4096);
  writeE820ToBootParams(page, map);
  assert.equal(page[0x1e8], 5);
  const view = new DataView(page.buffer);
  // Entry 4 (RAM above 4 GiB) at 0x2d0 + 4 * 20.
  assert.equal(view.getBigUint64(0x2d0 + 80, true), BigInt(4 * GiB));
  assert.equal(view.getBigUint64(0x2d0 + 88, true), BigInt(3 * GiB));
  assert.equal(view.getUint32(0x2d0 + 96, true), 1);
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  mem.write(0x7000, page);
  assert.deepEqual(readE820FromBootParams(mem, 0x7000), map);
  assert.throws(() => writeE820ToBootParams(page, Array.from({ length: 129 }, () => map[0]!)), /at most 128/);
});
