import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOOT_FPU_STATE, bootCpuState } from './cpu-state.js';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PML4_START, ZERO_PAGE_START } from './layout.js';

test('64-bit entry: long mode, paging, flat segments, RSI = zero page', () => {
  const s = bootCpuState('64bit', { entry: 0x1000200, bootInfo: ZERO_PAGE_START });
  assert.equal(s.rip, 0x1000200);
  assert.equal(s.rsi, ZERO_PAGE_START);
  assert.equal(s.rbx, 0);
  assert.equal(s.rsp, BOOT_STACK_POINTER);
  assert.equal(s.rflags, 2);
  assert.equal(s.cr0, 0x80000011);
  assert.equal(s.cr3, PML4_START);
  assert.equal(s.cr4, 0x20);
  assert.equal(s.efer, 0x500);
  assert.deepEqual(s.gdt, { base: BOOT_GDT_START, limit: 31 });
  assert.deepEqual(s.idt, { base: BOOT_IDT_START, limit: 7 });
  assert.deepEqual(
    { sel: s.cs.selector, type: s.cs.type, l: s.cs.l, db: s.cs.db, s: s.cs.s, p: s.cs.present, g: s.cs.g, limit: s.cs.limit },
    { sel: 8, type: 0xb, l: 1, db: 0, s: 1, p: 1, g: 1, limit: 0xffffffff },
  );
  for (const seg of [s.ds, s.es, s.fs, s.gs, s.ss]) {
    assert.deepEqual({ sel: seg.selector, type: seg.type, db: seg.db, l: seg.l }, { sel: 16, type: 3, db: 1, l: 0 });
  }
  assert.deepEqual({ sel: s.tr.selector, type: s.tr.type, s: s.tr.s }, { sel: 24, type: 0xb, s: 0 });
  assert.equal(s.ldt.type, 2);
});

test('PVH entry: 32-bit protected mode, paging off, EBX = start_info', () => {
  const s = bootCpuState('pvh', { entry: 0x1000850, bootInfo: 0x6000 });
  assert.equal(s.rip, 0x1000850);
  assert.equal(s.rbx, 0x6000);
  assert.equal(s.rsi, 0);
  assert.equal(s.cr0, 0x11);
  assert.equal(s.cr4, 0);
  assert.equal(s.efer, 0);
  assert.deepEqual({ l: s.cs.l, db: s.cs.db, type: s.cs.type, limit: s.cs.limit }, { l: 0, db: 1, type: 0xb, limit: 0xffffffff });
  assert.deepEqual({ base: s.tr.base, limit: s.tr.limit, type: s.tr.type }, { base: 0, limit: 0x67, type: 0xb });
  // Each state owns its objects: editing one segment must not edit another.
  s.ds.base = 5;
  assert.equal(s.es.base, 0);
  assert.deepEqual(BOOT_FPU_STATE, { fcw: 0x37f, mxcsr: 0x1f80 });
});
