/**
 * The boot vCPU's register state as plain data.
 *
 * The KVM layer turns this into kvm_regs / kvm_sregs (KVM API doc §4.11-4.14);
 * keeping it here, free of KVM types, makes it unit-testable and lets
 * snapshots and tests compare it.
 *
 * Two entry modes:
 * - '64bit': the Linux 64-bit boot protocol (boot.rst "64-bit BOOT PROTOCOL"):
 *   long mode, paging on with the identity map, flat segments, RSI = zero page.
 * - 'pvh': the Xen PVH ABI (xen/include/public/arch-x86/hvm/start_info.h):
 *   32-bit flat protected mode, paging off, EBX = struct hvm_start_info.
 */

import { BOOT_GDT_LIMIT, BOOT_IDT_LIMIT, bootGdtEntries, GDT_INDEX, type GdtEntry } from './gdt.js';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PML4_START } from './layout.js';

/** One segment register as kvm_segment describes it (limit in bytes, already scaled by G). */
export interface SegmentState {
  base: number;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface DescriptorTableState {
  base: number;
  limit: number;
}

export interface BootCpuState {
  rip: number;
  rsp: number;
  rbp: number;
  rsi: number;
  rbx: number;
  rflags: number;
  cr0: number;
  cr3: number;
  cr4: number;
  efer: number;
  gdt: DescriptorTableState;
  idt: DescriptorTableState;
  cs: SegmentState;
  ds: SegmentState;
  es: SegmentState;
  fs: SegmentState;
  gs: SegmentState;
  ss: SegmentState;
  tr: SegmentState;
  ldt: SegmentState;
}

export const Cr0 = { PE: 1 << 0, ET: 1 << 4, PG: 0x8000_0000 } as const;
export const Cr4 = { PAE: 1 << 5 } as const;
export const Efer = { LME: 1 << 8, LMA: 1 << 10 } as const;
/** RFLAGS bit 1 is reserved and always set; IF stays clear (boot.rst: "interrupt must be disabled"). */
export const RFLAGS_RESERVED_BIT = 0x2;

/** The kvm_segment a descriptor loads into the hidden part of a segment register. */
export function segmentFromGdt(entry: GdtEntry, index: number): SegmentState {
  const access = entry.flags & 0xff;
  const g = (entry.flags >> 15) & 1;
  return {
    base: entry.base,
    limit: g ? entry.limit * 4096 + 0xfff : entry.limit,
    selector: index * 8,
    type: access & 0xf,
    present: (access >> 7) & 1,
    dpl: (access >> 5) & 3,
    s: (access >> 4) & 1,
    avl: (entry.flags >> 12) & 1,
    l: (entry.flags >> 13) & 1,
    db: (entry.flags >> 14) & 1,
    g,
    unusable: 0,
  };
}

/** LDTR as KVM resets it: an LDT type (2) with selector 0; Linux never uses it during boot. */
const RESET_LDT: SegmentState = {
  base: 0, limit: 0xffff, selector: 0, type: 2, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0,
};

export interface BootEntry {
  /** Guest-physical entry point. */
  entry: number;
  /** '64bit': address of struct boot_params (RSI). 'pvh': address of struct hvm_start_info (EBX). */
  bootInfo: number;
}

export function bootCpuState(kind: '64bit' | 'pvh', { entry, bootInfo }: BootEntry): BootCpuState {
  const gdt = bootGdtEntries(kind);
  const code = segmentFromGdt(gdt[GDT_INDEX.CODE]!, GDT_INDEX.CODE);
  const data = segmentFromGdt(gdt[GDT_INDEX.DATA]!, GDT_INDEX.DATA);
  const tr = segmentFromGdt(gdt[GDT_INDEX.TSS]!, GDT_INDEX.TSS);
  const long = kind === '64bit';
  return {
    rip: entry,
    rsp: BOOT_STACK_POINTER,
    rbp: BOOT_STACK_POINTER,
    rsi: long ? bootInfo : 0,
    rbx: long ? 0 : bootInfo,
    rflags: RFLAGS_RESERVED_BIT,
    cr0: (long ? Cr0.PE | Cr0.ET | Cr0.PG : Cr0.PE | Cr0.ET) >>> 0,
    cr3: long ? PML4_START : 0,
    cr4: long ? Cr4.PAE : 0,
    efer: long ? Efer.LME | Efer.LMA : 0,
    gdt: { base: BOOT_GDT_START, limit: BOOT_GDT_LIMIT },
    idt: { base: BOOT_IDT_START, limit: BOOT_IDT_LIMIT },
    cs: code,
    ds: { ...data },
    es: { ...data },
    fs: { ...data },
    gs: { ...data },
    ss: { ...data },
    tr,
    ldt: { ...RESET_LDT },
  };
}

/** x87/SSE state at entry (kvm_fpu): the values FNINIT and the SDM's power-up MXCSR give (SDM vol. 1 §8.1.5, §10.2.3). */
export const BOOT_FPU_STATE = { fcw: 0x37f, mxcsr: 0x1f80 } as const;
