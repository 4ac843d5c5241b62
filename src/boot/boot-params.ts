/**
 * struct boot_params (the "zero page") and struct setup_header, as laid out
 * by the Linux x86 boot protocol (Documentation/arch/x86/boot.rst, "THE REAL-
 * MODE KERNEL HEADER" and "DETAILS OF HEADER FIELDS";
 * arch/x86/include/uapi/asm/bootparam.h). Setup-header offsets are the same in
 * the bzImage file and in boot_params, so one table serves both.
 */

import { field } from '../arch/x86_64/byte-layout.js';

export const BOOT_PARAMS_SIZE = 4096;

export const SetupHeader = {
  SETUP_SECTS: field(0x1f1, 1),
  ROOT_FLAGS: field(0x1f2, 2),
  SYSSIZE: field(0x1f4, 4),
  VID_MODE: field(0x1fa, 2),
  BOOT_FLAG: field(0x1fe, 2),
  JUMP: field(0x200, 2),
  HEADER: field(0x202, 4),
  VERSION: field(0x206, 2),
  KERNEL_VERSION: field(0x20e, 2),
  TYPE_OF_LOADER: field(0x210, 1),
  LOADFLAGS: field(0x211, 1),
  CODE32_START: field(0x214, 4),
  RAMDISK_IMAGE: field(0x218, 4),
  RAMDISK_SIZE: field(0x21c, 4),
  HEAP_END_PTR: field(0x224, 2),
  CMD_LINE_PTR: field(0x228, 4),
  INITRD_ADDR_MAX: field(0x22c, 4),
  KERNEL_ALIGNMENT: field(0x230, 4),
  RELOCATABLE_KERNEL: field(0x234, 1),
  XLOADFLAGS: field(0x236, 2),
  CMDLINE_SIZE: field(0x238, 4),
  HARDWARE_SUBARCH: field(0x23c, 4),
  SETUP_DATA: field(0x250, 8),
  PREF_ADDRESS: field(0x258, 8),
  INIT_SIZE: field(0x260, 4),
} as const;

/** First byte of the setup header; its end is 0x202 + the byte at 0x201 (the jump's offset). */
export const SETUP_HEADER_START = 0x1f1;
export const SETUP_HEADER_END_BASE = 0x202;
/** End of the room boot_params reserves for the header (bootparam.h: _pad7 runs to 0x290). */
export const SETUP_HEADER_MAX_END = 0x290;

export const BootParams = {
  ACPI_RSDP_ADDR: field(0x070, 8),
  EXT_RAMDISK_IMAGE: field(0x0c0, 4),
  EXT_RAMDISK_SIZE: field(0x0c4, 4),
  EXT_CMD_LINE_PTR: field(0x0c8, 4),
  E820_ENTRIES: field(0x1e8, 1),
  SENTINEL: field(0x1ef, 1),
} as const;

/** struct boot_e820_entry: packed { u64 addr; u64 size; u32 type; } at boot_params+0x2d0, up to 128 entries. */
export const E820_TABLE_OFFSET = 0x2d0;
export const E820_MAX_ENTRIES = 128;
export const BootE820Entry = { ADDR: field(0, 8), SIZE: field(8, 8), TYPE: field(16, 4), BYTES: 20 } as const;

export const BOOT_FLAG_MAGIC = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const HEADER_MAGIC = 0x53726448;
/** type_of_loader 0xff: "undefined" boot loader (boot.rst). */
export const LOADER_TYPE_UNDEFINED = 0xff;
/** The oldest protocol with a 64-bit entry point, xloadflags and a pref_address we rely on. */
export const MIN_BOOT_PROTOCOL = 0x020c;
/** acpi_rsdp_addr is honoured from protocol 2.14. */
export const PROTOCOL_WITH_ACPI_RSDP = 0x020e;
/** The protocol version our synthetic header (ELF vmlinux boots) claims. */
export const SYNTHETIC_PROTOCOL_VERSION = 0x020f;

export const LoadFlags = {
  LOADED_HIGH: 1 << 0,
  CAN_USE_HEAP: 1 << 7,
} as const;

export const XLoadFlags = {
  KERNEL_64: 1 << 0,
  CAN_BE_LOADED_ABOVE_4G: 1 << 1,
} as const;

/** vid_mode 0xffff: "normal" VGA text mode (boot.rst vid_mode). */
export const VID_MODE_NORMAL = 0xffff;
/** heap_end_ptr relative to the real-mode code (QEMU's choice); only read by the 16-bit setup. */
export const HEAP_END_PTR = 0xfe00;
/** The 64-bit entry point is 0x200 bytes into the protected-mode kernel (boot.rst "64-bit BOOT PROTOCOL"). */
export const STARTUP_64_OFFSET = 0x200;
/** x86 COMMAND_LINE_SIZE: the kernel keeps at most this many bytes (with the NUL) when it has no cmdline_size header. */
export const LINUX_COMMAND_LINE_SIZE = 2048;
/** Conservative initrd ceiling when the kernel's header does not state one (ELF and PVH boots). */
export const DEFAULT_INITRD_ADDR_MAX = 0x7fff_ffff;
/** kernel_alignment our synthetic header states (CONFIG_PHYSICAL_ALIGN of distribution kernels). */
export const DEFAULT_KERNEL_ALIGNMENT = 0x100_0000;
