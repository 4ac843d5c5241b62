/**
 * The kernel command line: NUL-terminated bytes at CMDLINE_START, no longer
 * than the kernel accepts (boot.rst "cmdline_size": the maximum size of the
 * command line without the terminating zero).
 */

import type { GuestMemory } from '../memory/guest-memory.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START } from '../arch/x86_64/layout.js';
import { KernelLoadError } from './errors.js';

export interface CmdlineRange {
  gpa: number;
  /** Bytes written, including the terminating NUL. */
  size: number;
}

/**
 * Encode `cmdline` as UTF-8 plus a NUL. `kernelLimit` is the kernel's own maximum length without the NUL
 * (cmdline_size); the VMM's buffer (CMDLINE_MAX_SIZE with the NUL) bounds it too.
 */
export function encodeCmdline(cmdline: string, kernelLimit: number): Uint8Array {
  const text = new TextEncoder().encode(cmdline);
  if (text.includes(0)) throw new KernelLoadError('kernel command line contains a NUL character');
  const limit = Math.min(kernelLimit, CMDLINE_MAX_SIZE - 1);
  if (text.length > limit) {
    throw new KernelLoadError(
      `kernel command line is ${text.length} bytes, longer than the limit of ${limit} bytes` +
        (limit === kernelLimit ? ' set by the kernel (cmdline_size)' : ` of the VMM's command-line buffer`),
    );
  }
  const bytes = new Uint8Array(text.length + 1);
  bytes.set(text);
  return bytes;
}

export function writeCmdline(mem: GuestMemory, cmdline: string, kernelLimit: number): CmdlineRange {
  const bytes = encodeCmdline(cmdline, kernelLimit);
  mem.write(CMDLINE_START, bytes);
  return { gpa: CMDLINE_START, size: bytes.length };
}
