import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../memory/guest-memory.js';
import { bootGdtEntries, encodeGdtEntry, GdtFlags, writeBootGdt } from './gdt.js';
import { BOOT_GDT_START, BOOT_IDT_START, MiB } from './layout.js';

test('descriptors encode as Firecracker and the SDM lay them out', () => {
  // Known values: the flat 64-bit code/data/TSS descriptors every x86 VMM writes.
  assert.equal(encodeGdtEntry({ flags: GdtFlags.CODE64, base: 0, limit: 0xfffff }), 0x00af9b000000ffffn);
  assert.equal(encodeGdtEntry({ flags: GdtFlags.DATA, base: 0, limit: 0xfffff }), 0x00cf93000000ffffn);
  assert.equal(encodeGdtEntry({ flags: GdtFlags.TSS64, base: 0, limit: 0xfffff }), 0x008f8b000000ffffn);
  assert.equal(encodeGdtEntry({ flags: GdtFlags.CODE32, base: 0, limit: 0xfffff }), 0x00cf9b000000ffffn);
  // Base bits are split 0..23 (bits 16..39) and 24..31 (bits 56..63).
  assert.equal(encodeGdtEntry({ flags: 0x8b, base: 0x12345678, limit: 0x67 }), 0x12008b3456780067n);
});

test('writeBootGdt writes four descriptors and an empty IDT', () => {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  mem.writeU64(BOOT_IDT_START, 0xdeadn);
  writeBootGdt(mem, '64bit');
  assert.equal(mem.readU64(BOOT_GDT_START), 0n);
  assert.equal(mem.readU64(BOOT_GDT_START + 8), 0x00af9b000000ffffn);
  assert.equal(mem.readU64(BOOT_GDT_START + 16), 0x00cf93000000ffffn);
  assert.equal(mem.readU64(BOOT_GDT_START + 24), 0x008f8b000000ffffn);
  assert.equal(mem.readU64(BOOT_IDT_START), 0n);
  writeBootGdt(mem, 'pvh');
  assert.equal(mem.readU64(BOOT_GDT_START + 8), 0x00cf9b000000ffffn);
  assert.equal(mem.readU64(BOOT_GDT_START + 24), 0x00008b0000000067n);
  assert.equal(bootGdtEntries('pvh').length, 4);
});
