/**
 * How guest RAM is laid out around the 32-bit MMIO hole.
 *
 * RAM fills [0, MMIO_HOLE_START); whatever does not fit continues at 4 GiB,
 * so [MMIO_HOLE_START, 4 GiB) stays free for PCI BARs, ECAM, the IOAPIC and
 * the local APIC (the same split QEMU's q35/pc and Cloud Hypervisor use).
 */

import { FOUR_GIB, MAX_GUEST_MEMORY, MIN_GUEST_MEMORY, MiB, MMIO_HOLE_START, PAGE_SIZE } from './layout.js';

export interface RamRange {
  /** Guest-physical start address. */
  gpa: number;
  /** Length in bytes. */
  size: number;
}

/** The RAM ranges for a guest with `memoryBytes` of RAM: one below the hole and, for big guests, one above 4 GiB. */
export function guestRamRanges(memoryBytes: number): RamRange[] {
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes <= 0) {
    throw new RangeError(`guest memory size must be a positive integer number of bytes, got ${memoryBytes}`);
  }
  if (memoryBytes % PAGE_SIZE !== 0) {
    throw new RangeError(`guest memory size ${memoryBytes} is not a multiple of the ${PAGE_SIZE}-byte page size`);
  }
  if (memoryBytes < MIN_GUEST_MEMORY) {
    throw new RangeError(`guest memory ${memoryBytes / MiB} MiB is below the minimum of ${MIN_GUEST_MEMORY / MiB} MiB`);
  }
  if (memoryBytes > MAX_GUEST_MEMORY) {
    throw new RangeError(`guest memory ${memoryBytes / MiB} MiB is above the maximum of ${MAX_GUEST_MEMORY / MiB} MiB`);
  }
  if (memoryBytes <= MMIO_HOLE_START) return [{ gpa: 0, size: memoryBytes }];
  return [
    { gpa: 0, size: MMIO_HOLE_START },
    { gpa: FOUR_GIB, size: memoryBytes - MMIO_HOLE_START },
  ];
}

/** End (exclusive) of the RAM range that starts at guest address 0: everything the 32-bit boot structures may use. */
export function lowRamEnd(ranges: readonly RamRange[]): number {
  const low = ranges.find((r) => r.gpa === 0);
  if (!low) throw new RangeError('guest RAM must include a range starting at guest address 0');
  return low.size;
}
