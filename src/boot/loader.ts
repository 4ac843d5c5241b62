/**
 * Load a Linux kernel (bzImage, ELF vmlinux, or ELF with a PVH note), its
 * initrd and command line into guest memory, write the boot structures the
 * entry mode needs, and describe the boot vCPU's starting state.
 *
 * After loadKernel the VMM only has to: set the boot vCPU's registers from
 * `entry` (kvm_regs/kvm_sregs), the FPU (BOOT_FPU_STATE), the boot MSRs, the
 * LAPIC LINT pins, and run. The firmware tables (ACPI and the MP table) are
 * written separately (firmware-tables.ts) and the RSDP address passed in as
 * `acpiRsdpAddress`.
 */

import { bootCpuState, type BootCpuState } from '../arch/x86_64/cpu-state.js';
import { writeBootGdt } from '../arch/x86_64/gdt.js';
import { HIGH_RAM_START } from '../arch/x86_64/layout.js';
import { lowRamEnd, type RamRange } from '../arch/x86_64/memory-map.js';
import { writeIdentityPageTables } from '../arch/x86_64/page-tables.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import {
  DEFAULT_INITRD_ADDR_MAX,
  LINUX_COMMAND_LINE_SIZE,
  SETUP_HEADER_START,
  STARTUP_64_OFFSET,
} from './boot-params.js';
import { hasBzImageMagic, parseBzImage } from './bzimage.js';
import { writeCmdline, type CmdlineRange } from './cmdline.js';
import { buildE820, type E820Entry } from './e820.js';
import { hasElfMagic, parseElfKernel } from './elf.js';
import { KernelLoadError, hex, mib } from './errors.js';
import { placeInitrd, type InitrdRange } from './initrd.js';
import { writePvhStartInfo } from './pvh.js';
import { writeZeroPage } from './zero-page.js';

export { KernelLoadError } from './errors.js';

export interface BootInput {
  kernel: Uint8Array;
  /** For messages only: the caller reads the file (and reports a missing one). */
  kernelPath: string;
  initrd?: Uint8Array;
  cmdline: string;
  memory: GuestMemory;
  ramRanges: RamRange[];
  /** Where writeFirmwareTables put the RSDP; passed to the kernel in boot_params / hvm_start_info. */
  acpiRsdpAddress?: number;
  /** How to enter an ELF kernel that has a PVH note: 'pvh' (default) or its 64-bit e_entry with boot_params. */
  elfEntry?: 'pvh' | '64bit';
}

export type KernelFormat = 'bzImage' | 'elf' | 'pvh';

export interface GuestRange {
  gpa: number;
  size: number;
}

export interface BootSetup {
  format: KernelFormat;
  /** Boot vCPU registers at the entry point. */
  entry: BootCpuState;
  /** The kernel's footprint: loaded bytes plus what it may use while starting (bzImage init_size, ELF p_memsz). */
  kernelRange: GuestRange;
  initrdRange?: InitrdRange;
  cmdlineRange: CmdlineRange;
  /** boot_params (bzImage, elf) or hvm_start_info (pvh). */
  bootInfoAddress: number;
  memoryMap: E820Entry[];
  /** From the bzImage header, e.g. "6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) ...". */
  kernelVersion?: string;
  /** bzImage boot protocol version, e.g. 0x020f. */
  protocolVersion?: number;
}

interface LoadedKernel {
  format: KernelFormat;
  entryPoint: number;
  kernelRange: GuestRange;
  cmdlineLimit: number;
  initrdAddrMax: number;
  setupHeader?: Uint8Array;
  kernelVersion?: string;
  protocolVersion?: number;
}

function requireRam(mem: GuestMemory, lowEnd: number, gpa: number, size: number, what: string): void {
  if (gpa + size > lowEnd || !mem.contains(gpa, size)) {
    throw new KernelLoadError(
      `${what} needs guest memory ${hex(gpa)}..${hex(gpa + size)} (${mib(gpa + size)} MiB), but guest RAM below 4 GiB ends at ${mib(lowEnd)} MiB`,
    );
  }
}

function loadBzImage(input: BootInput, lowEnd: number): LoadedKernel {
  const { kernel: image, kernelPath: path, memory } = input;
  const info = parseBzImage(image, path);
  const load = info.prefAddress;
  const footprint = Math.max(info.initSize, info.protectedModeSize);
  requireRam(memory, lowEnd, load, footprint, `kernel ${path} (init_size ${mib(info.initSize)} MiB at ${hex(load)})`);
  memory.write(load, image.subarray(info.protectedModeOffset));
  const loaded: LoadedKernel = {
    format: 'bzImage',
    entryPoint: load + STARTUP_64_OFFSET,
    kernelRange: { gpa: load, size: footprint },
    cmdlineLimit: info.cmdlineSize,
    initrdAddrMax: info.initrdAddrMax,
    setupHeader: image.subarray(SETUP_HEADER_START, info.headerEnd),
    protocolVersion: info.protocolVersion,
  };
  if (info.kernelVersion !== undefined) loaded.kernelVersion = info.kernelVersion;
  return loaded;
}

function loadElf(input: BootInput, lowEnd: number): LoadedKernel {
  const { kernel: image, kernelPath: path, memory } = input;
  const elf = parseElfKernel(image, path);
  let start = Number.MAX_SAFE_INTEGER;
  let end = 0;
  elf.segments.forEach((segment, i) => {
    const { paddr, fileOffset, fileSize, memSize } = segment;
    if (paddr < HIGH_RAM_START) {
      throw new KernelLoadError(`${path}: segment ${i} at ${hex(paddr)} overlaps the boot structures below ${hex(HIGH_RAM_START)}`);
    }
    requireRam(memory, lowEnd, paddr, memSize, `${path} segment ${i}`);
    memory.write(paddr, image.subarray(fileOffset, fileOffset + fileSize));
    if (memSize > fileSize) memory.fill(paddr + fileSize, memSize - fileSize, 0);
    start = Math.min(start, paddr);
    end = Math.max(end, paddr + memSize);
  });
  const pvh = elf.pvhEntry !== undefined && input.elfEntry !== '64bit';
  const entryPoint = pvh ? elf.pvhEntry! : elf.entry;
  if (!elf.segments.some((s) => entryPoint >= s.paddr && entryPoint < s.paddr + s.memSize)) {
    throw new KernelLoadError(
      `${path}: ${pvh ? 'PVH' : 'ELF'} entry point ${hex(entryPoint)} is not inside a loaded segment (a virtual address?)`,
    );
  }
  return {
    format: pvh ? 'pvh' : 'elf',
    entryPoint,
    kernelRange: { gpa: start, size: end - start },
    cmdlineLimit: LINUX_COMMAND_LINE_SIZE - 1,
    initrdAddrMax: DEFAULT_INITRD_ADDR_MAX,
  };
}

export function loadKernel(input: BootInput): BootSetup {
  const { memory, kernel, kernelPath } = input;
  const lowEnd = lowRamEnd(input.ramRanges);
  const memoryMap = buildE820(input.ramRanges);

  let loaded: LoadedKernel;
  if (hasBzImageMagic(kernel)) loaded = loadBzImage(input, lowEnd);
  else if (hasElfMagic(kernel)) loaded = loadElf(input, lowEnd);
  else {
    throw new KernelLoadError(
      `${kernelPath} is not a Linux kernel: it has neither a bzImage boot header ("HdrS" at 0x202) nor an ELF header`,
    );
  }

  const cmdlineRange = writeCmdline(memory, input.cmdline, loaded.cmdlineLimit);

  let initrdRange: InitrdRange | undefined;
  if (input.initrd) {
    initrdRange = placeInitrd({
      size: input.initrd.length,
      lowRamEnd: lowEnd,
      initrdAddrMax: loaded.initrdAddrMax,
      kernelEnd: loaded.kernelRange.gpa + loaded.kernelRange.size,
      guestMemoryBytes: input.ramRanges.reduce((sum, r) => sum + r.size, 0),
    });
    requireRam(memory, lowEnd, initrdRange.gpa, initrdRange.size, 'initrd');
    memory.write(initrdRange.gpa, input.initrd);
  }

  const boot = { memoryMap, ...(initrdRange ? { initrd: initrdRange } : {}) };
  const rsdp = input.acpiRsdpAddress !== undefined ? { rsdpAddress: input.acpiRsdpAddress } : {};
  let bootInfoAddress: number;
  let entry: BootCpuState;
  if (loaded.format === 'pvh') {
    bootInfoAddress = writePvhStartInfo(memory, { ...boot, ...rsdp, cmdlineAddress: cmdlineRange.gpa });
    writeBootGdt(memory, 'pvh');
    entry = bootCpuState('pvh', { entry: loaded.entryPoint, bootInfo: bootInfoAddress });
  } else {
    const header = loaded.setupHeader ? { setupHeader: loaded.setupHeader, kernelLoadAddress: loaded.kernelRange.gpa } : {};
    bootInfoAddress = writeZeroPage(memory, { ...boot, ...rsdp, ...header });
    writeBootGdt(memory, '64bit');
    writeIdentityPageTables(memory);
    entry = bootCpuState('64bit', { entry: loaded.entryPoint, bootInfo: bootInfoAddress });
  }

  const setup: BootSetup = {
    format: loaded.format,
    entry,
    kernelRange: loaded.kernelRange,
    cmdlineRange,
    bootInfoAddress,
    memoryMap,
  };
  if (initrdRange) setup.initrdRange = initrdRange;
  if (loaded.kernelVersion !== undefined) setup.kernelVersion = loaded.kernelVersion;
  if (loaded.protocolVersion !== undefined) setup.protocolVersion = loaded.protocolVersion;
  return setup;
}
