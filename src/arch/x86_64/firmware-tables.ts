/**
 * The tables a PC's firmware leaves for the kernel: ACPI (acpi/tables.ts) and,
 * for kernels without ACPI or booted with acpi=off, the MP table (mptable.ts).
 * Both describe the same CPUs and interrupt wiring. Written apart from the
 * kernel (loader.ts): they depend only on the machine, so the VMM writes them
 * on the device thread, which builds that machine, while the main thread loads
 * the kernel.
 */

import type { GuestMemory } from '../../memory/guest-memory.js';
import { writeAcpiTables, type AcpiTablesResult } from './acpi/tables.js';
import { writeMpTable } from './mptable.js';

export interface FirmwareTablesOptions {
  vcpus: number;
}

/** Writes the ACPI tables and the MP table; the RSDP address goes to the kernel in boot_params (loader.ts). */
export function writeFirmwareTables(mem: GuestMemory, opts: FirmwareTablesOptions): AcpiTablesResult {
  const acpi = writeAcpiTables(mem, { vcpus: opts.vcpus });
  writeMpTable(mem, opts.vcpus);
  return acpi;
}
