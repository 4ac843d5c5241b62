/**
 * Filling struct boot_params for the 64-bit entry (boot.rst "64-bit BOOT
 * PROTOCOL": the boot loader fills boot_params, copies the setup header from
 * the kernel image, and passes its address in RSI).
 */

import { getField, setField } from '../arch/x86_64/byte-layout.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START, ZERO_PAGE_START } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import {
  BOOT_FLAG_MAGIC,
  BOOT_PARAMS_SIZE,
  BootParams,
  DEFAULT_INITRD_ADDR_MAX,
  DEFAULT_KERNEL_ALIGNMENT,
  HEADER_MAGIC,
  HEAP_END_PTR,
  LOADER_TYPE_UNDEFINED,
  LoadFlags,
  PROTOCOL_WITH_ACPI_RSDP,
  SETUP_HEADER_START,
  SetupHeader,
  SYNTHETIC_PROTOCOL_VERSION,
  VID_MODE_NORMAL,
} from './boot-params.js';
import { writeE820ToBootParams, type E820Entry } from './e820.js';

export interface ZeroPageInput {
  /** The bzImage's setup header bytes [0x1f1, headerEnd) to copy; absent for an ELF kernel (a synthetic header is used). */
  setupHeader?: Uint8Array;
  /** Where the protected-mode kernel was loaded (recorded in code32_start, boot.rst). */
  kernelLoadAddress?: number;
  memoryMap: readonly E820Entry[];
  initrd?: { gpa: number; size: number };
  rsdpAddress?: number;
}

/** A minimal setup header for kernels without one (ELF vmlinux), as Firecracker and Cloud Hypervisor write. */
function writeSyntheticHeader(page: Uint8Array): void {
  setField(page, SetupHeader.BOOT_FLAG, BOOT_FLAG_MAGIC);
  setField(page, SetupHeader.HEADER, HEADER_MAGIC);
  setField(page, SetupHeader.VERSION, SYNTHETIC_PROTOCOL_VERSION);
  setField(page, SetupHeader.KERNEL_ALIGNMENT, DEFAULT_KERNEL_ALIGNMENT);
  setField(page, SetupHeader.INITRD_ADDR_MAX, DEFAULT_INITRD_ADDR_MAX);
  setField(page, SetupHeader.CMDLINE_SIZE, CMDLINE_MAX_SIZE - 1);
}

/** Build the zero page and write it at ZERO_PAGE_START; returns its address (RSI at entry). */
export function writeZeroPage(mem: GuestMemory, input: ZeroPageInput): number {
  const page = new Uint8Array(BOOT_PARAMS_SIZE);
  if (input.setupHeader) page.set(input.setupHeader, SETUP_HEADER_START);
  else writeSyntheticHeader(page);
  if (input.kernelLoadAddress !== undefined) setField(page, SetupHeader.CODE32_START, input.kernelLoadAddress);

  setField(page, SetupHeader.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  const loadflags = page[SetupHeader.LOADFLAGS.offset]! | LoadFlags.LOADED_HIGH | LoadFlags.CAN_USE_HEAP;
  setField(page, SetupHeader.LOADFLAGS, loadflags);
  setField(page, SetupHeader.HEAP_END_PTR, HEAP_END_PTR);
  setField(page, SetupHeader.VID_MODE, VID_MODE_NORMAL);
  setField(page, SetupHeader.CMD_LINE_PTR, CMDLINE_START);
  setField(page, BootParams.EXT_CMD_LINE_PTR, 0);
  // No setup_data chain: the image's field is meaningless before a loader fills it.
  setField(page, SetupHeader.SETUP_DATA, 0);
  if (input.initrd) {
    const { gpa, size } = input.initrd;
    setField(page, SetupHeader.RAMDISK_IMAGE, gpa % 2 ** 32);
    setField(page, SetupHeader.RAMDISK_SIZE, size % 2 ** 32);
    setField(page, BootParams.EXT_RAMDISK_IMAGE, Math.floor(gpa / 2 ** 32));
    setField(page, BootParams.EXT_RAMDISK_SIZE, Math.floor(size / 2 ** 32));
  }
  // Older kernels keep padding at this offset; they find the RSDP by scanning the BIOS area instead.
  if (input.rsdpAddress !== undefined && getField(page, SetupHeader.VERSION) >= PROTOCOL_WITH_ACPI_RSDP) {
    setField(page, BootParams.ACPI_RSDP_ADDR, input.rsdpAddress);
  }
  writeE820ToBootParams(page, input.memoryMap);
  mem.write(ZERO_PAGE_START, page);
  return ZERO_PAGE_START;
}
