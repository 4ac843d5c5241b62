/**
 * The Xen PVH boot ABI's start-of-day structure, struct hvm_start_info
 * (xen/include/public/arch-x86/hvm/start_info.h, version 1), with its module
 * list (the initrd) and memory map. Linux's PVH entry (arch/x86/platform/pvh)
 * turns it into boot_params itself.
 */

import { field, setField } from '../arch/x86_64/byte-layout.js';
import { PVH_MEMMAP_MAX_ENTRIES, PVH_MEMMAP_START, PVH_MODLIST_START, PVH_START_INFO_START } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { E820Entry } from './e820.js';
import { KernelLoadError } from './errors.js';

export const HVM_START_MAGIC_VALUE = 0x336ec578;
export const HVM_START_INFO_VERSION = 1;

export const HvmStartInfo = {
  MAGIC: field(0, 4),
  VERSION: field(4, 4),
  FLAGS: field(8, 4),
  NR_MODULES: field(12, 4),
  MODLIST_PADDR: field(16, 8),
  CMDLINE_PADDR: field(24, 8),
  RSDP_PADDR: field(32, 8),
  MEMMAP_PADDR: field(40, 8),
  MEMMAP_ENTRIES: field(48, 4),
  SIZE: 56,
} as const;

export const HvmModlistEntry = { PADDR: field(0, 8), SIZE: field(8, 8), CMDLINE_PADDR: field(16, 8), BYTES: 32 } as const;

/** hvm_memmap_table_entry; its type values equal the E820 ones (XEN_HVM_MEMMAP_TYPE_RAM = 1, ...). */
export const HvmMemmapEntry = { ADDR: field(0, 8), SIZE: field(8, 8), TYPE: field(16, 4), BYTES: 24 } as const;

export interface PvhStartInfoInput {
  cmdlineAddress: number;
  memoryMap: readonly E820Entry[];
  initrd?: { gpa: number; size: number };
  rsdpAddress?: number;
}

/** Write start_info, the memory map and the module list; returns the start_info address (EBX at entry). */
export function writePvhStartInfo(mem: GuestMemory, input: PvhStartInfoInput): number {
  const { memoryMap, initrd } = input;
  if (memoryMap.length > PVH_MEMMAP_MAX_ENTRIES) {
    throw new KernelLoadError(`memory map has ${memoryMap.length} entries; the PVH area holds ${PVH_MEMMAP_MAX_ENTRIES}`);
  }
  const info = new Uint8Array(HvmStartInfo.SIZE);
  setField(info, HvmStartInfo.MAGIC, HVM_START_MAGIC_VALUE);
  setField(info, HvmStartInfo.VERSION, HVM_START_INFO_VERSION);
  setField(info, HvmStartInfo.CMDLINE_PADDR, input.cmdlineAddress);
  setField(info, HvmStartInfo.RSDP_PADDR, input.rsdpAddress ?? 0);
  setField(info, HvmStartInfo.MEMMAP_PADDR, PVH_MEMMAP_START);
  setField(info, HvmStartInfo.MEMMAP_ENTRIES, memoryMap.length);
  if (initrd) {
    const module = new Uint8Array(HvmModlistEntry.BYTES);
    setField(module, HvmModlistEntry.PADDR, initrd.gpa);
    setField(module, HvmModlistEntry.SIZE, initrd.size);
    mem.write(PVH_MODLIST_START, module);
    setField(info, HvmStartInfo.NR_MODULES, 1);
    setField(info, HvmStartInfo.MODLIST_PADDR, PVH_MODLIST_START);
  }
  const map = new Uint8Array(memoryMap.length * HvmMemmapEntry.BYTES);
  memoryMap.forEach((entry, i) => {
    const base = i * HvmMemmapEntry.BYTES;
    setField(map, HvmMemmapEntry.ADDR, entry.addr, base);
    setField(map, HvmMemmapEntry.SIZE, entry.size, base);
    setField(map, HvmMemmapEntry.TYPE, entry.type, base);
  });
  mem.write(PVH_MEMMAP_START, map);
  mem.write(PVH_START_INFO_START, info);
  return PVH_START_INFO_START;
}
