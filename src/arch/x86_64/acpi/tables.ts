/**
 * Write the machine's ACPI tables into guest memory: RSDP at RSDP_START (in
 * the BIOS area Linux scans), then DSDT, FACS, FADT, MADT, MCFG and the XSDT
 * from ACPI_TABLES_START, all inside the E820-reserved range below 1 MiB.
 */

import type { GuestMemory } from '../../../memory/guest-memory.js';
import { ACPI_TABLES_END, ACPI_TABLES_START, RSDP_START } from '../layout.js';
import { buildDsdt } from './dsdt.js';
import { buildFacs, buildFadt, Facs } from './fadt.js';
import { buildMadt } from './madt.js';
import { buildMcfg } from './mcfg.js';
import { buildRsdp, buildXsdt } from './rsdp.js';

export interface AcpiOptions {
  vcpus: number;
}

export interface AcpiTableLocation {
  signature: string;
  address: number;
  length: number;
}

export interface AcpiTablesResult {
  rsdpAddress: number;
  tables: AcpiTableLocation[];
}

const TABLE_ALIGNMENT = 8;

export function writeAcpiTables(mem: GuestMemory, opts: AcpiOptions): AcpiTablesResult {
  const tables: AcpiTableLocation[] = [];
  let next = ACPI_TABLES_START;
  const place = (signature: string, bytes: Uint8Array, alignment = TABLE_ALIGNMENT): number => {
    const address = Math.ceil(next / alignment) * alignment;
    if (address + bytes.length > ACPI_TABLES_END) {
      throw new RangeError(`ACPI tables overflow their area: ${signature} would end at 0x${(address + bytes.length).toString(16)}`);
    }
    mem.write(address, bytes);
    tables.push({ signature, address, length: bytes.length });
    next = address + bytes.length;
    return address;
  };

  const dsdt = place('DSDT', buildDsdt());
  const facs = place('FACS', buildFacs(), Facs.ALIGNMENT);
  const fadt = place('FACP', buildFadt(dsdt, facs));
  const madt = place('APIC', buildMadt(opts.vcpus));
  const mcfg = place('MCFG', buildMcfg());
  const xsdt = place('XSDT', buildXsdt([fadt, madt, mcfg]));
  mem.write(RSDP_START, buildRsdp(xsdt));
  tables.push({ signature: 'RSD PTR ', address: RSDP_START, length: 36 });
  return { rsdpAddress: RSDP_START, tables };
}
