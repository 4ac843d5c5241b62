/**
 * The Intel MultiProcessor Specification 1.4 tables (chapter 4): a floating
 * pointer and a configuration table listing processors, the ISA bus, the
 * IOAPIC and the interrupt wiring. Only kernels without ACPI (or booted with
 * acpi=off) read them; the contents agree with the MADT.
 * Linux finds the floating pointer by scanning the last KiB of base memory,
 * where MPTABLE_START (the EBDA) is.
 */

import type { GuestMemory } from '../../memory/guest-memory.js';
import { field, setAscii, setField } from './byte-layout.js';
import { checksumOf } from './acpi/sdt.js';
import { ACPI_SCI_IRQ, EBDA_START, IOAPIC_ID, IOAPIC_START, LAPIC_START, MAX_VCPUS, MPTABLE_START } from './layout.js';
import { PIT_IOAPIC_PIN } from './irq-routing.js';

export const MpFloatingPointer = {
  SIGNATURE: 0, // "_MP_"
  CONFIG_ADDRESS: field(4, 4),
  LENGTH: field(8, 1), // in 16-byte units
  SPEC_REV: field(9, 1),
  CHECKSUM: field(10, 1),
  SIZE: 16,
} as const;

export const MpConfigHeader = {
  SIGNATURE: 0, // "PCMP"
  BASE_LENGTH: field(4, 2),
  SPEC_REV: field(6, 1),
  CHECKSUM: field(7, 1),
  OEM_ID: 8, // 8 bytes
  PRODUCT_ID: 16, // 12 bytes
  ENTRY_COUNT: field(34, 2),
  LAPIC_ADDRESS: field(36, 4),
  SIZE: 44,
} as const;

export const MpEntryType = { PROCESSOR: 0, BUS: 1, IOAPIC: 2, IO_INTERRUPT: 3, LOCAL_INTERRUPT: 4 } as const;
export const MpInterruptType = { INT: 0, NMI: 1, EXTINT: 3 } as const;
/** MP spec 1.4 revision byte. */
const MP_SPEC_REV = 4;
const LAPIC_VERSION = 0x14;
const IOAPIC_VERSION = 0x11;
const CPU_ENABLED = 1;
const CPU_BOOTSTRAP = 2;
/** CPUID signature family 6 and feature flags FPU | APIC, as Firecracker reports (the kernel re-reads CPUID). */
const CPU_SIGNATURE = 0x600;
const CPU_FEATURES = (1 << 0) | (1 << 9);
const ISA_BUS_ID = 0;
/** Polarity active-high (01) | trigger level (11 << 2): the SCI, as in the MADT. */
const LEVEL_ACTIVE_HIGH = 0x0d;
const ALL_LOCAL_APICS = 0xff;

function processor(apicId: number, bootstrap: boolean): number[] {
  const e = new Uint8Array(20);
  e[0] = MpEntryType.PROCESSOR;
  e[1] = apicId;
  e[2] = LAPIC_VERSION;
  e[3] = CPU_ENABLED | (bootstrap ? CPU_BOOTSTRAP : 0);
  setField(e, field(4, 4), CPU_SIGNATURE);
  setField(e, field(8, 4), CPU_FEATURES);
  return [...e];
}

function interrupt(type: number, kind: number, flags: number, sourceIrq: number, destId: number, destPin: number): number[] {
  return [type, kind, flags & 0xff, flags >> 8, ISA_BUS_ID, sourceIrq, destId, destPin];
}

/** Write the floating pointer and configuration table at MPTABLE_START; returns the bytes used. */
export function writeMpTable(mem: GuestMemory, vcpus: number): number {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
    throw new RangeError(`MP table: vCPU count must be 1..${MAX_VCPUS}, got ${vcpus}`);
  }
  const entries: number[][] = [];
  for (let cpu = 0; cpu < vcpus; cpu++) entries.push(processor(cpu, cpu === 0));
  entries.push([MpEntryType.BUS, ISA_BUS_ID, ...[...'ISA   '].map((c) => c.charCodeAt(0))]);
  const ioapic = new Uint8Array(8);
  ioapic.set([MpEntryType.IOAPIC, IOAPIC_ID, IOAPIC_VERSION, 1]); // flags bit 0: enabled
  setField(ioapic, field(4, 4), IOAPIC_START);
  entries.push([...ioapic]);
  // The 8259 cascade on pin 0, the PIT on pin 2, the other ISA IRQs on their own pins.
  entries.push(interrupt(MpEntryType.IO_INTERRUPT, MpInterruptType.EXTINT, 0, 0, IOAPIC_ID, 0));
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) continue;
    const flags = irq === ACPI_SCI_IRQ ? LEVEL_ACTIVE_HIGH : 0;
    entries.push(interrupt(MpEntryType.IO_INTERRUPT, MpInterruptType.INT, flags, irq, IOAPIC_ID, irq === 0 ? PIT_IOAPIC_PIN : irq));
  }
  entries.push(interrupt(MpEntryType.LOCAL_INTERRUPT, MpInterruptType.EXTINT, 0, 0, ALL_LOCAL_APICS, 0));
  entries.push(interrupt(MpEntryType.LOCAL_INTERRUPT, MpInterruptType.NMI, 0, 0, ALL_LOCAL_APICS, 1));

  const body = entries.flat();
  const config = new Uint8Array(MpConfigHeader.SIZE + body.length);
  setAscii(config, MpConfigHeader.SIGNATURE, 4, 'PCMP');
  setField(config, MpConfigHeader.BASE_LENGTH, config.length);
  setField(config, MpConfigHeader.SPEC_REV, MP_SPEC_REV);
  setAscii(config, MpConfigHeader.OEM_ID, 8, 'TYPVSR');
  setAscii(config, MpConfigHeader.PRODUCT_ID, 12, 'TYPEVISOR');
  setField(config, MpConfigHeader.ENTRY_COUNT, entries.length);
  setField(config, MpConfigHeader.LAPIC_ADDRESS, LAPIC_START);
  config.set(body, MpConfigHeader.SIZE);
  setField(config, MpConfigHeader.CHECKSUM, checksumOf(config));

  const configAddress = MPTABLE_START + MpFloatingPointer.SIZE;
  const pointer = new Uint8Array(MpFloatingPointer.SIZE);
  setAscii(pointer, MpFloatingPointer.SIGNATURE, 4, '_MP_');
  setField(pointer, MpFloatingPointer.CONFIG_ADDRESS, configAddress);
  setField(pointer, MpFloatingPointer.LENGTH, 1);
  setField(pointer, MpFloatingPointer.SPEC_REV, MP_SPEC_REV);
  setField(pointer, MpFloatingPointer.CHECKSUM, checksumOf(pointer));

  const used = MpFloatingPointer.SIZE + config.length;
  if (MPTABLE_START + used > EBDA_START + 1024) throw new RangeError(`MP table of ${used} bytes overflows the EBDA's first KiB`);
  mem.write(MPTABLE_START, pointer);
  mem.write(configAddress, config);
  return used;
}
