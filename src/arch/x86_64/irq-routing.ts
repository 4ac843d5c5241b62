/**
 * How legacy interrupt lines reach the in-kernel interrupt controllers.
 *
 * The MADT and MP table tell the guest that ISA IRQ0 (the PIT) arrives on
 * IOAPIC pin 2 (the PC convention since the IOAPIC: pin 0 carries the 8259's
 * ExtINT). KVM's default GSI routing sends GSI 0 to IOAPIC pin 0, so the VMM
 * must install this table with KVM_SET_GSI_ROUTING (plus its MSI routes),
 * the same routing QEMU installs (hw/i386/kvm/ioapic.c kvm_pc_setup_irq_routing).
 * Every other ISA IRQ n goes to PIC input n and IOAPIC pin n; GSIs 16..23
 * are IOAPIC-only (PCI INTx).
 */

import { IOAPIC_PINS } from './layout.js';

export type IrqChip = 'pic-master' | 'pic-slave' | 'ioapic';

export interface IrqchipRoute {
  /** The GSI number KVM_IRQ_LINE / irqfd use (equal to the ISA IRQ for 0..15). */
  gsi: number;
  chip: IrqChip;
  pin: number;
}

/** ISA IRQ 0 is wired to this IOAPIC pin (the MADT override IRQ0 -> GSI 2 states the same). */
export const PIT_IOAPIC_PIN = 2;
/** IRQ 2 on the PIC is the cascade from the slave; nothing is routed to it. */
const PIC_CASCADE_IRQ = 2;

export function legacyIrqRoutes(): IrqchipRoute[] {
  const routes: IrqchipRoute[] = [];
  for (let irq = 0; irq < 16; irq++) {
    if (irq === PIC_CASCADE_IRQ) continue;
    routes.push(irq < 8 ? { gsi: irq, chip: 'pic-master', pin: irq } : { gsi: irq, chip: 'pic-slave', pin: irq - 8 });
  }
  for (let gsi = 0; gsi < IOAPIC_PINS; gsi++) {
    if (gsi === PIC_CASCADE_IRQ) continue;
    routes.push({ gsi, chip: 'ioapic', pin: gsi === 0 ? PIT_IOAPIC_PIN : gsi });
  }
  return routes;
}
