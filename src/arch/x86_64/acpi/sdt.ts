/**
 * System Description Table plumbing shared by every ACPI table: the 36-byte
 * header (ACPI 6.5 §5.2.6), checksums, and the Generic Address Structure
 * (§5.2.3.2).
 */

import { field, setAscii, setField } from '../byte-layout.js';

export const SdtHeader = {
  SIGNATURE: 0, // 4 ASCII bytes
  LENGTH: field(4, 4),
  REVISION: field(8, 1),
  CHECKSUM: field(9, 1),
  OEM_ID: 10, // 6 bytes
  OEM_TABLE_ID: 16, // 8 bytes
  OEM_REVISION: field(24, 4),
  CREATOR_ID: 28, // 4 bytes
  CREATOR_REVISION: field(32, 4),
  SIZE: 36,
} as const;

export const ACPI_OEM_ID = 'TYPVSR';
export const ACPI_OEM_TABLE_ID = 'TYPEVISR';
export const ACPI_CREATOR_ID = 'TYPV';
export const ACPI_OEM_REVISION = 1;
export const ACPI_CREATOR_REVISION = 1;

/** The byte that makes `bytes` sum to zero modulo 256, given the checksum byte itself is currently zero. */
export function checksumOf(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** True when all bytes sum to 0 modulo 256 (how OSPM validates a table). */
export function checksumIsValid(bytes: Uint8Array): boolean {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum === 0;
}

/** A complete table: header filled, body copied, checksum set. `body` is everything after the header. */
export function buildSdt(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const table = new Uint8Array(SdtHeader.SIZE + body.length);
  setAscii(table, SdtHeader.SIGNATURE, 4, signature);
  setField(table, SdtHeader.LENGTH, table.length);
  setField(table, SdtHeader.REVISION, revision);
  setAscii(table, SdtHeader.OEM_ID, 6, ACPI_OEM_ID);
  setAscii(table, SdtHeader.OEM_TABLE_ID, 8, ACPI_OEM_TABLE_ID);
  setField(table, SdtHeader.OEM_REVISION, ACPI_OEM_REVISION);
  setAscii(table, SdtHeader.CREATOR_ID, 4, ACPI_CREATOR_ID);
  setField(table, SdtHeader.CREATOR_REVISION, ACPI_CREATOR_REVISION);
  table.set(body, SdtHeader.SIZE);
  setField(table, SdtHeader.CHECKSUM, checksumOf(table));
  return table;
}

/** Generic Address Structure address spaces and access sizes. */
export const GasSpace = { SYSTEM_MEMORY: 0, SYSTEM_IO: 1 } as const;
export const GasAccess = { UNDEFINED: 0, BYTE: 1, WORD: 2, DWORD: 3, QWORD: 4 } as const;

export const Gas = {
  SPACE_ID: field(0, 1),
  BIT_WIDTH: field(1, 1),
  BIT_OFFSET: field(2, 1),
  ACCESS_SIZE: field(3, 1),
  ADDRESS: field(4, 8),
  SIZE: 12,
} as const;

export interface GenericAddress {
  space: number;
  bitWidth: number;
  access: number;
  address: number;
}

export function writeGas(bytes: Uint8Array, offset: number, gas: GenericAddress): void {
  setField(bytes, Gas.SPACE_ID, gas.space, offset);
  setField(bytes, Gas.BIT_WIDTH, gas.bitWidth, offset);
  setField(bytes, Gas.BIT_OFFSET, 0, offset);
  setField(bytes, Gas.ACCESS_SIZE, gas.access, offset);
  setField(bytes, Gas.ADDRESS, gas.address, offset);
}

/** An I/O-port register block of `length` bytes accessed `access`-wide. */
export const ioGas = (address: number, length: number, access: number): GenericAddress => ({
  space: GasSpace.SYSTEM_IO,
  bitWidth: length * 8,
  access,
  address,
});
