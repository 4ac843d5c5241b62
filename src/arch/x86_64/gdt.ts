/**
 * The boot GDT and IDT the VMM writes before the first vCPU entry.
 *
 * Four descriptors like Firecracker and Cloud Hypervisor: null, code, data,
 * TSS (Intel SDM vol. 3 §3.4.5 segment descriptors, §7.2.3 TSS descriptor
 * in 64-bit mode). The 64-bit entry uses a long-mode code segment; the PVH
 * entry (xen/include/public/arch-x86/hvm/start_info.h) needs a 32-bit flat
 * code segment and a TSS with limit 0x67. The kernel loads its own GDT and
 * IDT early, so these only have to be valid for the first instructions.
 */

import type { GuestMemory } from '../../memory/guest-memory.js';
import { BOOT_GDT_START, BOOT_IDT_START } from './layout.js';

/** Descriptor flags as Firecracker writes them: access byte in bits 0..7, AVL/L/DB/G in bits 12..15. */
export const GdtFlags = {
  CODE64: 0xa09b, // present, DPL 0, code execute/read accessed, L=1, G=1
  CODE32: 0xc09b, // present, DPL 0, code execute/read accessed, D/B=1, G=1
  DATA: 0xc093, // present, DPL 0, data read/write accessed, D/B=1, G=1
  TSS64: 0x808b, // present, busy 64-bit TSS, G=1
  TSS32: 0x008b, // present, busy 32-bit TSS, byte granular
} as const;

export interface GdtEntry {
  flags: number;
  base: number;
  /** 20-bit limit as stored in the descriptor (in 4 KiB units when G=1). */
  limit: number;
}

/** Descriptor indexes; the selector is index * 8 (TI=0, RPL=0). */
export const GDT_INDEX = { NULL: 0, CODE: 1, DATA: 2, TSS: 3 } as const;
export const GDT_ENTRY_COUNT = 4;
export const BOOT_GDT_LIMIT = GDT_ENTRY_COUNT * 8 - 1;
/** One empty IDT slot: interrupts stay disabled until the kernel installs its own IDT. */
export const BOOT_IDT_LIMIT = 8 - 1;

export type BootGdtKind = '64bit' | 'pvh';

export function bootGdtEntries(kind: BootGdtKind): GdtEntry[] {
  const flat = 0xfffff;
  return kind === '64bit'
    ? [
        { flags: 0, base: 0, limit: 0 },
        { flags: GdtFlags.CODE64, base: 0, limit: flat },
        { flags: GdtFlags.DATA, base: 0, limit: flat },
        { flags: GdtFlags.TSS64, base: 0, limit: flat },
      ]
    : [
        { flags: 0, base: 0, limit: 0 },
        { flags: GdtFlags.CODE32, base: 0, limit: flat },
        { flags: GdtFlags.DATA, base: 0, limit: flat },
        // PVH ABI: "tr: must be a 32-bit TSS (active) with base of '0' and limit '0x67'".
        { flags: GdtFlags.TSS32, base: 0, limit: 0x67 },
      ];
}

/** Encode one 8-byte segment descriptor (SDM vol. 3 figure 3-8). */
export function encodeGdtEntry(entry: GdtEntry): bigint {
  const base = BigInt(entry.base >>> 0);
  const limit = BigInt(entry.limit & 0xfffff);
  const flags = BigInt(entry.flags & 0xf0ff);
  return (
    ((base & 0xff000000n) << 32n) |
    ((base & 0x00ffffffn) << 16n) |
    (limit & 0xffffn) |
    ((limit & 0xf0000n) << 32n) |
    (flags << 40n)
  );
}

/** Write the boot GDT at BOOT_GDT_START and an empty IDT at BOOT_IDT_START. */
export function writeBootGdt(mem: GuestMemory, kind: BootGdtKind): void {
  bootGdtEntries(kind).forEach((entry, i) => mem.writeU64(BOOT_GDT_START + i * 8, encodeGdtEntry(entry)));
  mem.writeU64(BOOT_IDT_START, 0n);
}
