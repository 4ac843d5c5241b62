/**
 * The devices of one VM and the buses they sit on. Lives on the device
 * thread; the vCPU threads reach it only through exit mailboxes.
 */
import { Bus } from '../devices/bus.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import {
  ACPI_PM1A_CNT_BLK,
  ACPI_PM1A_EVT_BLK,
  ACPI_PM1_CNT_LEN,
  ACPI_PM1_EVT_LEN,
  ACPI_PM_TMR_BLK,
  ACPI_PM_TMR_LEN,
  ACPI_RESET_PORT,
  ACPI_SCI_IRQ,
  COM1_IRQ,
  COM1_PORT,
  I8042_COMMAND_PORT,
  I8042_DATA_PORT,
  POST_PORT,
  RTC_PORT,
  UART_PORT_COUNT,
} from '../arch/x86_64/layout.js';
import { Serial8250 } from '../devices/legacy/serial.js';
import { ExitKind, type ExitMailbox } from './exit-mailbox.js';
import type { GsiRouter } from './irq-routing.js';
import { createLegacyPlatformDevices, type LegacyPlatformDevices } from './legacy-devices.js';

export interface DeviceManagerOptions {
  memory: GuestMemory;
  router: GsiRouter;
  onConsoleOutput(bytes: Uint8Array): void;
  onPowerOff(): void;
  onReset(reason: string): void;
}

export class DeviceManager {
  readonly pio = new Bus();
  readonly mmio = new Bus();
  readonly serial: Serial8250;
  readonly legacy: LegacyPlatformDevices;

  constructor(readonly options: DeviceManagerOptions) {
    this.serial = new Serial8250({
      irq: options.router.legacyLine(COM1_IRQ),
      onOutput: (bytes) => options.onConsoleOutput(bytes),
    });
    this.pio.insert(COM1_PORT, UART_PORT_COUNT, this.serial, 'serial COM1');
    this.legacy = createLegacyPlatformDevices({
      sci: options.router.legacyLine(ACPI_SCI_IRQ),
      onPowerOff: () => options.onPowerOff(),
      onReset: (reason) => options.onReset(reason),
    });
    const l = this.legacy;
    this.pio.insert(I8042_DATA_PORT, 1, l.i8042Data, 'i8042 data');
    this.pio.insert(I8042_COMMAND_PORT, 1, l.i8042Command, 'i8042 command');
    this.pio.insert(RTC_PORT, 2, l.rtc, 'cmos rtc');
    this.pio.insert(POST_PORT, 1, l.post, 'post');
    this.pio.insert(ACPI_PM1A_EVT_BLK, ACPI_PM1_EVT_LEN, l.pm1Event, 'acpi pm1a evt');
    this.pio.insert(ACPI_PM1A_CNT_BLK, ACPI_PM1_CNT_LEN, l.pm1Control, 'acpi pm1a cnt');
    this.pio.insert(ACPI_PM_TMR_BLK, ACPI_PM_TMR_LEN, l.pmTimer, 'acpi pm timer');
    this.pio.insert(ACPI_RESET_PORT, 1, l.resetRegister, 'acpi reset');
  }

  /** Answers one vCPU exit. Unknown addresses read as all-ones and ignore writes, like a PC. */
  handleExit(m: ExitMailbox): void {
    const size = m.size;
    const count = m.count;
    const address = m.address;
    switch (m.kind) {
      case ExitKind.PioWrite:
        for (let i = 0; i < count; i++) this.pio.write(address, m.data.subarray(i * size, (i + 1) * size));
        break;
      case ExitKind.PioRead:
        for (let i = 0; i < count; i++) this.pio.read(address, m.data.subarray(i * size, (i + 1) * size));
        break;
      case ExitKind.MmioWrite:
        this.mmio.write(address, m.data.subarray(0, size));
        break;
      case ExitKind.MmioRead:
        this.mmio.read(address, m.data.subarray(0, size));
        break;
    }
  }
}
