/**
 * The guest's physical memory map, as the firmware would report it through
 * INT 15h E820 (ACPI 6.5 §15 "System Address Map Interfaces"). Linux reads it
 * from boot_params.e820_table (bzImage / 64-bit ELF) or, for PVH, from the
 * hvm_start_info memory map, which uses the same type numbers.
 */

import type { RamRange } from '../arch/x86_64/memory-map.js';
import { lowRamEnd } from '../arch/x86_64/memory-map.js';
import { EBDA_START, HIGH_RAM_START, PCI_ECAM_SIZE, PCI_ECAM_START } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { getField, setField } from '../arch/x86_64/byte-layout.js';
import { BootE820Entry, BootParams, E820_MAX_ENTRIES, E820_TABLE_OFFSET } from './boot-params.js';
import { KernelLoadError, hex } from './errors.js';

export const E820Type = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5 } as const;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/**
 * RAM below the EBDA, the EBDA/VGA/BIOS area reserved (the ACPI tables and MP
 * table live there), RAM from 1 MiB to the end of low RAM, RAM above 4 GiB,
 * and the PCIe ECAM window reserved: Linux only trusts MMCONFIG when the
 * firmware marks it reserved (arch/x86/pci/mmconfig-shared.c).
 */
export function buildE820(ramRanges: readonly RamRange[]): E820Entry[] {
  const lowEnd = lowRamEnd(ramRanges);
  if (lowEnd <= HIGH_RAM_START) {
    throw new KernelLoadError(`guest RAM ends at ${hex(lowEnd)}, below ${hex(HIGH_RAM_START)}: no room for a kernel`);
  }
  const entries: E820Entry[] = [
    { addr: 0, size: EBDA_START, type: E820Type.RAM },
    { addr: EBDA_START, size: HIGH_RAM_START - EBDA_START, type: E820Type.RESERVED },
    { addr: HIGH_RAM_START, size: lowEnd - HIGH_RAM_START, type: E820Type.RAM },
  ];
  for (const range of ramRanges) {
    if (range.gpa !== 0) entries.push({ addr: range.gpa, size: range.size, type: E820Type.RAM });
  }
  entries.push({ addr: PCI_ECAM_START, size: PCI_ECAM_SIZE, type: E820Type.RESERVED });
  entries.sort((a, b) => a.addr - b.addr);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1]!;
    if (prev.addr + prev.size > entries[i]!.addr) {
      throw new KernelLoadError(`memory map entries overlap at ${hex(entries[i]!.addr)}`);
    }
  }
  return entries;
}

/** Write the map into boot_params.e820_table / e820_entries (zero page bytes). */
export function writeE820ToBootParams(zeroPage: Uint8Array, entries: readonly E820Entry[]): void {
  if (entries.length > E820_MAX_ENTRIES) {
    throw new KernelLoadError(`memory map has ${entries.length} entries; boot_params holds at most ${E820_MAX_ENTRIES}`);
  }
  entries.forEach((entry, i) => {
    const base = E820_TABLE_OFFSET + i * BootE820Entry.BYTES;
    setField(zeroPage, BootE820Entry.ADDR, entry.addr, base);
    setField(zeroPage, BootE820Entry.SIZE, entry.size, base);
    setField(zeroPage, BootE820Entry.TYPE, entry.type, base);
  });
  setField(zeroPage, BootParams.E820_ENTRIES, entries.length);
}

/** Read the map back from a zero page in guest memory (tests, diagnostics). */
export function readE820FromBootParams(mem: GuestMemory, zeroPageAddress: number): E820Entry[] {
  const page = mem.slice(zeroPageAddress, 4096);
  const count = getField(page, BootParams.E820_ENTRIES);
  return Array.from({ length: count }, (_, i) => {
    const base = E820_TABLE_OFFSET + i * BootE820Entry.BYTES;
    return {
      addr: getField(page, BootE820Entry.ADDR, base),
      size: getField(page, BootE820Entry.SIZE, base),
      type: getField(page, BootE820Entry.TYPE, base),
    };
  });
}
