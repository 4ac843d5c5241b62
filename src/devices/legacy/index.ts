/**
 * The legacy PC devices of a typevisor machine, created and mapped on the port-I/O bus in one call.
 *
 * What is not here because KVM models it in the kernel: PIC and IOAPIC (KVM_CREATE_IRQCHIP), PIT and the
 * port 0x61 speaker/gate (KVM_CREATE_PIT2 with KVM_PIT_SPEAKER_DUMMY), the local APICs.
 */

import type { Bus } from '../bus.js';
import type { IrqLine } from '../interrupts.js';
import { COM1_PORT, I8042_COMMAND_PORT, I8042_DATA_PORT, RTC_PORT, UART_PORT_COUNT } from '../../arch/x86_64/layout.js';
import { ACPI_PM_IO_BASE, ACPI_PM_IO_LENGTH, AcpiPm, type AcpiPmStateV1 } from './acpi-pm.js';
import { I8042, type I8042StateV1 } from './i8042.js';
import { BOOT_SINK_PORTS, PortSink } from './post.js';
import { Rtc, type RtcStateV1, type RtcTimer } from './rtc.js';
import { Serial8250, type SerialStateV1 } from './serial.js';

export { AcpiPm, I8042, PortSink, Rtc, Serial8250 };
export type { AcpiPmStateV1, I8042StateV1, RtcStateV1, RtcTimer, SerialStateV1 };

/** RTC_PORT covers the index and data ports (0x70, 0x71). */
const RTC_PORT_COUNT = 2;

export interface LegacyDeviceOptions {
  /**
   * ISA IRQ lines, built by the VMM on KVM_IRQ_LINE (COM1_IRQ, ACPI_SCI_IRQ, I8042_KBD_IRQ, I8042_AUX_IRQ,
   * RTC_IRQ). Give keyboard and aux when the FADT announces an 8042: Linux's probe waits 250 ms for IRQ 12.
   */
  irqs: { com1: IrqLine; sci: IrqLine; keyboard?: IrqLine; aux?: IrqLine; rtc?: IrqLine };
  /** Lets the RTC raise IRQ 8 on time (update, alarm, periodic); without it RTC events are register C flags only. */
  rtcTimer?: RtcTimer;
  /** Bytes the guest writes to COM1. */
  onSerialOutput: (bytes: Uint8Array) => void;
  /** The guest asked for a reset (i8042 0xFE or the ACPI reset register). */
  onReset: () => void;
  /** The guest entered ACPI S5. */
  onPowerOff: () => void;
  /** Test clocks. */
  clocks?: { wallMs?: () => number; monotonicNs?: () => bigint };
}

/** Persisted state of all legacy devices, version 1. */
export interface LegacyDevicesStateV1 {
  version: 1;
  com1: SerialStateV1;
  i8042: I8042StateV1;
  rtc: RtcStateV1;
  acpiPm: AcpiPmStateV1;
}

export class LegacyDevices {
  readonly com1: Serial8250;
  readonly i8042: I8042;
  readonly rtc: Rtc;
  readonly acpiPm: AcpiPm;
  /** Port sinks by name ('post', 'io-delay'); `post.lastValue` is the last POST code. */
  readonly sinks: ReadonlyMap<string, PortSink>;

  constructor(options: LegacyDeviceOptions) {
    this.com1 = new Serial8250({ irq: options.irqs.com1, onOutput: options.onSerialOutput });
    this.i8042 = new I8042({
      onReset: options.onReset,
      ...(options.irqs.keyboard ? { kbdIrq: options.irqs.keyboard } : {}),
      ...(options.irqs.aux ? { auxIrq: options.irqs.aux } : {}),
    });
    this.rtc = new Rtc({
      ...(options.clocks?.wallMs ? { nowMs: options.clocks.wallMs } : {}),
      ...(options.irqs.rtc ? { irq: options.irqs.rtc } : {}),
      ...(options.rtcTimer ? { timer: options.rtcTimer } : {}),
    });
    this.acpiPm = new AcpiPm({
      sci: options.irqs.sci,
      onPowerOff: options.onPowerOff,
      onReset: options.onReset,
      ...(options.clocks?.monotonicNs ? { monotonicNs: options.clocks.monotonicNs } : {}),
    });
    this.sinks = new Map(BOOT_SINK_PORTS.map(({ name }) => [name, new PortSink()]));
  }

  /** Maps every device on the port-I/O bus at its layout.ts address. */
  attach(pio: Bus): void {
    pio.insert(COM1_PORT, UART_PORT_COUNT, this.com1, 'com1');
    pio.insert(I8042_DATA_PORT, 1, this.i8042.dataPort, 'i8042-data');
    pio.insert(I8042_COMMAND_PORT, 1, this.i8042.commandPort, 'i8042-command');
    pio.insert(RTC_PORT, RTC_PORT_COUNT, this.rtc, 'rtc');
    pio.insert(ACPI_PM_IO_BASE, ACPI_PM_IO_LENGTH, this.acpiPm, 'acpi-pm');
    for (const { port, name } of BOOT_SINK_PORTS) pio.insert(port, 1, this.sinks.get(name)!, name);
  }

  /** Cancels device timers (the RTC's). */
  dispose(): void {
    this.rtc.dispose();
  }

  save(): LegacyDevicesStateV1 {
    return { version: 1, com1: this.com1.save(), i8042: this.i8042.save(), rtc: this.rtc.save(), acpiPm: this.acpiPm.save() };
  }

  restore(state: LegacyDevicesStateV1): void {
    if (state.version !== 1) throw new Error(`LegacyDevices: unsupported state version ${String(state.version)}`);
    this.com1.restore(state.com1);
    this.i8042.restore(state.i8042);
    this.rtc.restore(state.rtc);
    this.acpiPm.restore(state.acpiPm);
  }
}
