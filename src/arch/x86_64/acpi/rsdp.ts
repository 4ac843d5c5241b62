/**
 * RSDP (ACPI 6.5 §5.2.5) and XSDT (§5.2.8): the root pointer Linux finds by
 * scanning 0xE0000..0xFFFFF (or from boot_params.acpi_rsdp_addr /
 * hvm_start_info.rsdp_paddr), and the list of 64-bit table addresses.
 */

import { field, setAscii, setField } from '../byte-layout.js';
import { ACPI_OEM_ID, buildSdt, checksumOf } from './sdt.js';

export const Rsdp = {
  SIGNATURE: 0, // "RSD PTR "
  CHECKSUM: field(8, 1), // over the first 20 bytes (the ACPI 1.0 structure)
  OEM_ID: 9,
  REVISION: field(15, 1),
  RSDT_ADDRESS: field(16, 4),
  LENGTH: field(20, 4),
  XSDT_ADDRESS: field(24, 8),
  EXTENDED_CHECKSUM: field(32, 1), // over all 36 bytes
  V1_SIZE: 20,
  SIZE: 36,
} as const;

/** Revision 2 = ACPI 2.0+ RSDP with an XSDT. */
export const RSDP_REVISION = 2;
export const XSDT_REVISION = 1;

export function buildRsdp(xsdtAddress: number): Uint8Array {
  const r = new Uint8Array(Rsdp.SIZE);
  setAscii(r, Rsdp.SIGNATURE, 8, 'RSD PTR ');
  setAscii(r, Rsdp.OEM_ID, 6, ACPI_OEM_ID);
  setField(r, Rsdp.REVISION, RSDP_REVISION);
  setField(r, Rsdp.RSDT_ADDRESS, 0); // no RSDT: every consumer we target reads the XSDT
  setField(r, Rsdp.LENGTH, Rsdp.SIZE);
  setField(r, Rsdp.XSDT_ADDRESS, xsdtAddress);
  setField(r, Rsdp.CHECKSUM, checksumOf(r.subarray(0, Rsdp.V1_SIZE)));
  setField(r, Rsdp.EXTENDED_CHECKSUM, checksumOf(r));
  return r;
}

export function buildXsdt(tableAddresses: readonly number[]): Uint8Array {
  const body = new Uint8Array(tableAddresses.length * 8);
  tableAddresses.forEach((address, i) => setField(body, field(i * 8, 8), address));
  return buildSdt('XSDT', XSDT_REVISION, body);
}
