import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { encodeCmdline, writeCmdline } from './cmdline.js';
import { CMDLINE_START, MiB } from '../arch/x86_64/layout.js';
import { placeInitrd } from './initrd.js';

test('command line is written NUL-terminated at CMDLINE_START', () => {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  mem.fill(CMDLINE_START, 64, 0xaa);
  const range = writeCmdline(mem, 'console=ttyS0 reboot=k', 2047);
  assert.deepEqual(range, { gpa: CMDLINE_START, size: 23 });
  assert.equal(new TextDecoder().decode(mem.slice(CMDLINE_START, 22)), 'console=ttyS0 reboot=k');
  assert.equal(mem.readU8(CMDLINE_START + 22), 0);
});

test('command line limits: the kernel cmdline_size, then the VMM buffer, and no NULs', () => {
  assert.equal(encodeCmdline('x'.repeat(2047), 2047).length, 2048);
  assert.throws(() => encodeCmdline('x'.repeat(2048), 2047), /2048 bytes, longer than the limit of 2047 bytes set by the kernel/);
  assert.throws(() => encodeCmdline('x'.repeat(0x10000), 0xffffffff), /limit of 65535 bytes of the VMM's command-line buffer/);
  assert.throws(() => encodeCmdline('a\0b', 100), /NUL/);
});

test('initrd goes page-aligned at the top of low RAM, under initrd_addr_max', () => {
  const common = { kernelEnd: 0x5000000, guestMemoryBytes: 256 * MiB };
  assert.deepEqual(placeInitrd({ ...common, size: 10_000, lowRamEnd: 256 * MiB, initrdAddrMax: 0x7fffffff }), {
    gpa: 256 * MiB - 12288,
    size: 10_000,
  });
  // A kernel ceiling below the end of RAM wins: the last byte must be <= initrd_addr_max.
  const capped = placeInitrd({ ...common, size: 4096, lowRamEnd: 256 * MiB, initrdAddrMax: 0x8000000 - 1 });
  assert.equal(capped.gpa, 0x8000000 - 4096);
  assert.throws(
    () => placeInitrd({ ...common, size: 300 * MiB, lowRamEnd: 256 * MiB, initrdAddrMax: 0x7fffffff }),
    /initrd \(300 MiB\) does not fit in guest memory \(256 MiB\)/,
  );
  assert.throws(() => placeInitrd({ ...common, size: 0, lowRamEnd: 256 * MiB, initrdAddrMax: 0x7fffffff }), /empty/);
});
