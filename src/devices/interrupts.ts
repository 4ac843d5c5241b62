/**
 * How devices raise interrupts, without knowing about KVM.
 *
 * The VMM implements these with KVM_IRQ_LINE (legacy lines on the in-kernel
 * IOAPIC/PIC) and with irqfd + GSI routes (MSI/MSI-X); tests implement them
 * with counters.
 */

/** A legacy interrupt line (ISA IRQ / IOAPIC pin). */
export interface IrqLine {
  /** Drive the line to a level (level-triggered devices: asserted while pending). */
  setLevel(asserted: boolean): void;
  /** An edge: assert then deassert (edge-triggered ISA devices such as the 8250). */
  pulse(): void;
}

/** One MSI message as programmed by the guest into an MSI-X table entry (PCI Local Bus 3.0, 6.8.2). */
export interface MsiMessage {
  readonly address: bigint;
  readonly data: number;
}

/**
 * MSI delivery for one PCI function. Vectors are MSI-X table indices; the
 * implementation keeps KVM's GSI routing in sync with the table (update) and
 * injects through an irqfd (trigger), so the hot path is one eventfd write.
 */
export interface MsiController {
  /** The guest programmed or (un)masked a table entry; `message` is null when masked or disabled. */
  update(vector: number, message: MsiMessage | null): void;
  /** Deliver the vector's message now. */
  trigger(vector: number): void;
}

/** A counting IrqLine for unit tests. */
export class RecordingIrqLine implements IrqLine {
  level = false;
  pulses = 0;
  raises = 0;
  setLevel(asserted: boolean): void {
    if (asserted && !this.level) this.raises++;
    this.level = asserted;
  }
  pulse(): void {
    this.pulses++;
  }
}

/** A counting MsiController for unit tests. */
export class RecordingMsiController implements MsiController {
  readonly messages = new Map<number, MsiMessage | null>();
  readonly triggered: number[] = [];
  update(vector: number, message: MsiMessage | null): void {
    this.messages.set(vector, message);
  }
  trigger(vector: number): void {
    this.triggered.push(vector);
  }
}
