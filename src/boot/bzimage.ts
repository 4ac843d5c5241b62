/**
 * bzImage parsing and loading (Linux x86 boot protocol,
 * Documentation/arch/x86/boot.rst). The VMM skips the 16-bit setup code and
 * enters the protected-mode kernel through its 64-bit entry point, so only
 * the protected-mode part is copied into the guest; the setup header is
 * copied into boot_params for the kernel to read.
 */

import { getField } from '../arch/x86_64/byte-layout.js';
import { HIGH_RAM_START } from '../arch/x86_64/layout.js';
import {
  BOOT_FLAG_MAGIC,
  HEADER_MAGIC,
  MIN_BOOT_PROTOCOL,
  SETUP_HEADER_END_BASE,
  SETUP_HEADER_MAX_END,
  SetupHeader,
  XLoadFlags,
} from './boot-params.js';
import { KernelLoadError, hex } from './errors.js';

export interface BzImageInfo {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  protocolVersion: number;
  setupSects: number;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  protectedModeOffset: number;
  /** Bytes of protected-mode kernel in the file. */
  protectedModeSize: number;
  /** Where the kernel wants to be loaded (pref_address). */
  prefAddress: number;
  /** Memory the kernel needs from its load address while it decompresses and starts (init_size). */
  initSize: number;
  initrdAddrMax: number;
  /** Longest command line without the NUL (cmdline_size). */
  cmdlineSize: number;
  relocatable: boolean;
  xloadflags: number;
  /** End offset of the setup header in the file (0x202 + byte at 0x201). */
  headerEnd: number;
  /** The version string the header points to, e.g. "6.1.0-56-cloud-amd64 (debian-kernel@...) #1 SMP ...". */
  kernelVersion?: string;
}

const SECTOR = 512;
/** The smallest file that can hold the whole setup header. */
const MIN_HEADER_BYTES = SetupHeader.INIT_SIZE.offset + 4;

export function hasBzImageMagic(image: Uint8Array): boolean {
  return (
    image.length >= SetupHeader.HEADER.offset + 4 &&
    getField(image, SetupHeader.BOOT_FLAG) === BOOT_FLAG_MAGIC &&
    getField(image, SetupHeader.HEADER) === HEADER_MAGIC
  );
}

function versionText(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

function readKernelVersion(image: Uint8Array): string | undefined {
  const pointer = getField(image, SetupHeader.KERNEL_VERSION);
  if (pointer === 0) return undefined;
  const start = pointer + 0x200; // the pointer is relative to the start of the setup code, 0x200 into the file
  if (start >= image.length) return undefined;
  let end = start;
  while (end < image.length && end - start < 256 && image[end] !== 0) end++;
  return new TextDecoder('latin1').decode(image.subarray(start, end));
}

/** Validate the header of a bzImage and describe it; throws KernelLoadError naming `path` and the problem. */
export function parseBzImage(image: Uint8Array, path: string): BzImageInfo {
  if (!hasBzImageMagic(image)) {
    throw new KernelLoadError(`${path} is not a Linux kernel: no "HdrS" boot header (boot.rst) and no ELF header`);
  }
  if (image.length < MIN_HEADER_BYTES) {
    throw new KernelLoadError(`truncated bzImage ${path}: ${image.length} bytes cannot hold the setup header`);
  }
  const version = getField(image, SetupHeader.VERSION);
  if (version < MIN_BOOT_PROTOCOL) {
    throw new KernelLoadError(
      `${path} uses Linux boot protocol ${versionText(version)}; ${versionText(MIN_BOOT_PROTOCOL)} or newer is needed (Linux 3.8+)`,
    );
  }
  const xloadflags = getField(image, SetupHeader.XLOADFLAGS);
  if (!(xloadflags & XLoadFlags.KERNEL_64)) {
    throw new KernelLoadError(`${path} has no 64-bit entry point (XLF_KERNEL_64 is clear): is it a 32-bit kernel?`);
  }
  const setupSects = getField(image, SetupHeader.SETUP_SECTS) || 4; // boot.rst: 0 means 4
  const protectedModeOffset = (setupSects + 1) * SECTOR;
  const syssize = getField(image, SetupHeader.SYSSIZE);
  const expected = protectedModeOffset + syssize * 16;
  if (syssize === 0 || image.length < expected) {
    throw new KernelLoadError(
      `truncated bzImage ${path}: the header promises ${expected} bytes ((setup_sects+1)*512 + syssize*16), the file has ${image.length}`,
    );
  }
  const headerEnd = Math.min(SETUP_HEADER_END_BASE + image[0x201]!, SETUP_HEADER_MAX_END);
  const info: BzImageInfo = {
    protocolVersion: version,
    setupSects,
    protectedModeOffset,
    protectedModeSize: image.length - protectedModeOffset,
    // A zero pref_address means "no preference": use the classic 1 MiB load address.
    prefAddress: getField(image, SetupHeader.PREF_ADDRESS) || HIGH_RAM_START,
    initSize: getField(image, SetupHeader.INIT_SIZE),
    initrdAddrMax: getField(image, SetupHeader.INITRD_ADDR_MAX),
    cmdlineSize: getField(image, SetupHeader.CMDLINE_SIZE),
    relocatable: getField(image, SetupHeader.RELOCATABLE_KERNEL) !== 0,
    xloadflags,
    headerEnd,
  };
  const kernelVersion = readKernelVersion(image);
  if (kernelVersion !== undefined) info.kernelVersion = kernelVersion;
  if (info.prefAddress % 4096 !== 0) {
    throw new KernelLoadError(`${path} has an unusable pref_address ${hex(info.prefAddress)} in its boot header`);
  }
  return info;
}
