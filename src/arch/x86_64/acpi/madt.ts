/**
 * MADT, the Multiple APIC Description Table (ACPI 6.5 §5.2.12): the local
 * APIC address, one enabled Processor Local APIC per vCPU (APIC id = vCPU
 * index, as CPUID reports), the IOAPIC, and the ISA interrupt overrides a PC
 * has: the PIT's IRQ0 arrives on GSI 2, and the SCI (IRQ 9) is level-
 * triggered active-high as QEMU and KVM's in-kernel IOAPIC deliver it.
 */

import { field, setField } from '../byte-layout.js';
import { ACPI_SCI_IRQ, IOAPIC_ID, IOAPIC_START, LAPIC_START, MAX_VCPUS } from '../layout.js';
import { buildSdt } from './sdt.js';

export const MADT_REVISION = 5;

export const Madt = {
  LOCAL_APIC_ADDRESS: field(0, 4), // offsets in the body, after the 36-byte header
  FLAGS: field(4, 4),
  ENTRIES: 8,
} as const;
/** Flags bit 0: the machine also has dual 8259 PICs (the OS must mask them). */
export const MADT_PCAT_COMPAT = 1;

export const MadtEntryType = { LOCAL_APIC: 0, IO_APIC: 1, INTERRUPT_OVERRIDE: 2, LOCAL_APIC_NMI: 4 } as const;

/** MPS INTI flags (table 5.26): polarity bits 1:0, trigger mode bits 3:2. */
export const MpsIntiFlags = {
  CONFORMING: 0,
  ACTIVE_HIGH: 0b01,
  ACTIVE_LOW: 0b11,
  EDGE: 0b01 << 2,
  LEVEL: 0b11 << 2,
} as const;

const LOCAL_APIC_ENABLED = 1;

function localApic(uid: number, apicId: number): number[] {
  const e = new Uint8Array(8);
  e[0] = MadtEntryType.LOCAL_APIC;
  e[1] = e.length;
  e[2] = uid;
  e[3] = apicId;
  setField(e, field(4, 4), LOCAL_APIC_ENABLED);
  return [...e];
}

function ioApic(id: number, address: number, gsiBase: number): number[] {
  const e = new Uint8Array(12);
  e[0] = MadtEntryType.IO_APIC;
  e[1] = e.length;
  e[2] = id;
  setField(e, field(4, 4), address);
  setField(e, field(8, 4), gsiBase);
  return [...e];
}

function interruptOverride(sourceIrq: number, gsi: number, flags: number): number[] {
  const e = new Uint8Array(10);
  e[0] = MadtEntryType.INTERRUPT_OVERRIDE;
  e[1] = e.length;
  e[2] = 0; // bus: ISA
  e[3] = sourceIrq;
  setField(e, field(4, 4), gsi);
  setField(e, field(8, 2), flags);
  return [...e];
}

/** LINT1 of every processor (UID 0xFF) is the NMI input, as on PCs. */
function localApicNmi(): number[] {
  return [MadtEntryType.LOCAL_APIC_NMI, 6, 0xff, 0, 0, 1];
}

export function buildMadt(vcpus: number): Uint8Array {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
    throw new RangeError(`MADT: vCPU count must be 1..${MAX_VCPUS}, got ${vcpus}`);
  }
  const head = new Uint8Array(Madt.ENTRIES);
  setField(head, Madt.LOCAL_APIC_ADDRESS, LAPIC_START);
  setField(head, Madt.FLAGS, MADT_PCAT_COMPAT);
  const entries: number[] = [];
  for (let cpu = 0; cpu < vcpus; cpu++) entries.push(...localApic(cpu, cpu));
  entries.push(...ioApic(IOAPIC_ID, IOAPIC_START, 0));
  entries.push(...interruptOverride(0, 2, MpsIntiFlags.CONFORMING));
  entries.push(...interruptOverride(ACPI_SCI_IRQ, ACPI_SCI_IRQ, MpsIntiFlags.ACTIVE_HIGH | MpsIntiFlags.LEVEL));
  entries.push(...localApicNmi());
  return buildSdt('APIC', MADT_REVISION, new Uint8Array([...head, ...entries]));
}
