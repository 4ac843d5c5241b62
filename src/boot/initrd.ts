/**
 * Where the initial ramdisk goes: page-aligned, as high as possible below
 * both the kernel's ceiling (initrd_addr_max, boot.rst) and the end of low
 * RAM, and above the kernel image (which decompresses in place up to
 * init_size). Loaders such as QEMU and GRUB choose the same spot, so the
 * kernel's early allocations below it are left alone.
 */

import { PAGE_SIZE } from '../arch/x86_64/layout.js';
import { KernelLoadError, mib } from './errors.js';

export interface InitrdPlacementInput {
  size: number;
  /** End (exclusive) of the RAM range starting at 0. */
  lowRamEnd: number;
  /** Highest address the kernel accepts for the initrd's last byte. */
  initrdAddrMax: number;
  /** End (exclusive) of the kernel's footprint in guest memory. */
  kernelEnd: number;
  /** Total guest RAM, for the message. */
  guestMemoryBytes: number;
}

export interface InitrdRange {
  gpa: number;
  size: number;
}

export function placeInitrd(input: InitrdPlacementInput): InitrdRange {
  const { size, lowRamEnd, initrdAddrMax, kernelEnd, guestMemoryBytes } = input;
  const top = Math.min(initrdAddrMax + 1, lowRamEnd);
  const gpa = Math.floor((top - size) / PAGE_SIZE) * PAGE_SIZE;
  if (size <= 0 || gpa < kernelEnd) {
    if (size <= 0) throw new KernelLoadError('initrd is empty');
    throw new KernelLoadError(
      `initrd (${mib(size)} MiB) does not fit in guest memory (${mib(guestMemoryBytes)} MiB): ` +
        `it must lie between the kernel's end at ${mib(kernelEnd)} MiB and ${mib(top)} MiB`,
    );
  }
  return { gpa, size };
}
