/**
 * ACPI resource descriptors (ACPI 6.5 §6.4 "Resource Data Types for ACPI"),
 * as used in _CRS ResourceTemplate buffers.
 */

import { buffer, type Aml } from './aml.js';

const le = (value: number | bigint, bytes: number): number[] => {
  const v = BigInt(value);
  return Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
};

/** Address space resource types (§6.4.3.5.1 "Resource Type"). */
const AddressResourceType = { MEMORY: 0, IO: 1, BUS_NUMBER: 2 } as const;
/** General flags: bit 2 MinFixed, bit 3 MaxFixed; bit 0 clear = the device produces (decodes) this range. */
const PRODUCER_MIN_MAX_FIXED = 0x0c;
/** I/O type-specific flags: ISA and non-ISA ranges ("EntireRange"). */
const IO_ENTIRE_RANGE = 0x03;
/** Memory type-specific flags: bit 0 read/write; bits 2:1 = 0 non-cacheable. */
const MEMORY_READ_WRITE_NON_CACHEABLE = 0x01;

/** IO(Decode16, min, max, alignment, length): small item 0x47 (§6.4.2.5). */
export function io(min: number, max: number, alignment: number, length: number): Aml {
  return [0x47, 0x01, ...le(min, 2), ...le(max, 2), alignment, length];
}

/** IRQNoFlags(){irqs}: small item 0x22, a 16-bit mask (§6.4.2.1); edge-triggered, active-high, exclusive. */
export function irqNoFlags(irqs: readonly number[]): Aml {
  const mask = irqs.reduce((m, irq) => {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`ISA IRQ ${irq} is outside 0..15`);
    return m | (1 << irq);
  }, 0);
  return [0x22, ...le(mask, 2)];
}

function addressSpace(tag: number, width: number, type: number, typeFlags: number, min: bigint, max: bigint): Aml {
  if (max < min) throw new RangeError(`resource range max 0x${max.toString(16)} is below min 0x${min.toString(16)}`);
  const fields = [type, PRODUCER_MIN_MAX_FIXED, typeFlags, ...[0n, min, max, 0n, max - min + 1n].flatMap((v) => le(v, width))];
  return [tag, ...le(fields.length, 2), ...fields];
}

/** WordBusNumber (large item 0x88, §6.4.3.5.3). */
export function wordBusNumber(min: number, max: number): Aml {
  return addressSpace(0x88, 2, AddressResourceType.BUS_NUMBER, 0, BigInt(min), BigInt(max));
}

/** WordIO (large item 0x88). */
export function wordIo(min: number, max: number): Aml {
  return addressSpace(0x88, 2, AddressResourceType.IO, IO_ENTIRE_RANGE, BigInt(min), BigInt(max));
}

/** DWordMemory (large item 0x87, §6.4.3.5.2). */
export function dwordMemory(start: number, size: number): Aml {
  return addressSpace(0x87, 4, AddressResourceType.MEMORY, MEMORY_READ_WRITE_NON_CACHEABLE, BigInt(start), BigInt(start + size - 1));
}

/** QWordMemory (large item 0x8A, §6.4.3.5.1). */
export function qwordMemory(start: number | bigint, size: number | bigint): Aml {
  const first = BigInt(start);
  return addressSpace(0x8a, 8, AddressResourceType.MEMORY, MEMORY_READ_WRITE_NON_CACHEABLE, first, first + BigInt(size) - 1n);
}

/** ResourceTemplate(){...}: the descriptors plus an End Tag (§6.4.2.9), in a Buffer. */
export function resourceTemplate(descriptors: Aml[]): Aml {
  // End tag 0x79 with checksum 0 ("the checksum is treated as correct").
  return buffer([...descriptors.flat(), 0x79, 0x00]);
}

/** Memory32Fixed(ReadWrite, base, length): large item 0x86 (§6.4.3.4). */
export function memory32Fixed(base: number, length: number): Aml {
  return [0x86, ...le(9, 2), 0x01, ...le(base, 4), ...le(length, 4)];
}
