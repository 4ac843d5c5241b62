/**
 * A pre-started device thread (thread-pool.ts) has nothing to do until its VM arrives, and the VM then waits for it:
 * building the devices and restoring their state is on a restore's critical path. In the KVM lab that took ~150 ms
 * for a VM with no virtio device at all, nearly all of it V8 compiling device code on its first use (the legacy
 * devices' constructors alone: 100 ms). So while idle, the thread runs that code once on a throwaway set of devices
 * with no VM behind it: the buses, the legacy devices and the PCI root are built, answer the first exits a guest
 * makes, and have their state saved and restored; and the firmware tables a boot needs (the thread writes them) are
 * built into scratch buffers. Nothing outside the throwaway objects is touched: no KVM, no file, no guest memory
 * (the devices are pure; their interrupts go to lines that drop them).
 */
import type { IrqLine } from '../devices/interrupts.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import {
  ACPI_TABLES_END,
  COM1_PORT,
  EBDA_START,
  I8042_COMMAND_PORT,
  PCI_CONFIG_ADDRESS_PORT,
  PCI_CONFIG_DATA_PORT,
  RSDP_START,
  RTC_PORT,
} from '../arch/x86_64/layout.js';
import { writeFirmwareTables } from '../arch/x86_64/firmware-tables.js';
import type { VmConfig } from './config.js';
import { DeviceManager } from './device-manager.js';
import { ExitKind, ExitMailbox } from './exit-mailbox.js';
import type { InterruptRouter } from './irq-routing.js';

/** Port accesses a guest makes all the time: serial line status and data, PCI config space, CMOS, i8042 status. */
const WARM_UP_EXITS: ReadonlyArray<readonly [ExitKind, number, number]> = [
  [ExitKind.PioRead, COM1_PORT + 5, 1],
  [ExitKind.PioWrite, COM1_PORT, 1],
  [ExitKind.PioWrite, PCI_CONFIG_ADDRESS_PORT, 4],
  [ExitKind.PioRead, PCI_CONFIG_DATA_PORT, 4],
  [ExitKind.PioWrite, RTC_PORT, 1],
  [ExitKind.PioRead, RTC_PORT + 1, 1],
  [ExitKind.PioRead, I8042_COMMAND_PORT, 1],
];

/**
 * Runs the warm-up in stages and asks `arrived` after each whether the thread's VM has come (its data message);
 * when it has, the warm-up ends there and returns what `arrived` gave, so a VM never waits for more than one stage.
 */
export function warmUpDeviceCode<T>(arrived: () => T | undefined = () => undefined): T | undefined {
  for (const stage of [warmUpDevices, warmUpFirmwareTables]) {
    const early = arrived();
    if (early !== undefined) return early;
    stage();
  }
  return arrived();
}

function warmUpDevices(): void {

  const droppedLine: IrqLine = { setLevel: () => undefined, pulse: () => undefined };
  const router: InterruptRouter = {
    legacyLine: () => droppedLine,
    msiController: () => {
      throw new Error('the device warm-up has no virtio device and no MSI');
    },
  };
  const config: VmConfig = {
    kernelPath: '',
    cmdline: '',
    vcpus: 1,
    memoryMiB: 1,
    disks: [],
    nets: [],
    rng: false,
    balloon: false,
    virtioConsole: false,
    kvmPath: '',
  };
  const devices = new DeviceManager({
    config,
    ram: { ranges: [] },
    memory: new RegionGuestMemory([]),
    router,
    onConsoleOutput: () => undefined,
    onPowerOff: () => undefined,
    onReset: () => undefined,
  });
  devices.mapPciBars();
  const mailbox = new ExitMailbox(ExitMailbox.allocate(1), 0);
  for (const [kind, port, size] of WARM_UP_EXITS) {
    mailbox.data.fill(0, 0, size);
    mailbox.post(kind, port, size, 1);
    devices.handleExit(mailbox);
    mailbox.complete();
  }
  devices.restore(devices.save());
  devices.close();
}

function warmUpFirmwareTables(): void {
  // The MP table lives in the EBDA's first KiB, the ACPI tables from the RSDP up.
  const scratch = new RegionGuestMemory([
    { gpa: EBDA_START, bytes: new Uint8Array(1024) },
    { gpa: RSDP_START, bytes: new Uint8Array(ACPI_TABLES_END - RSDP_START) },
  ]);
  writeFirmwareTables(scratch, { vcpus: 2 });
}
