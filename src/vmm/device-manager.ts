/**
 * The devices of one VM and the buses they sit on. Lives on the device
 * thread; the vCPU threads reach it only through exit mailboxes.
 */
import { Bus } from '../devices/bus.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import {
  ACPI_SCI_IRQ,
  COM1_IRQ,
  I8042_KBD_IRQ,
  PCI_CONFIG_ADDRESS_PORT,
  PCI_ECAM_SIZE,
  PCI_ECAM_START,
} from '../arch/x86_64/layout.js';
import { LegacyDevices, type LegacyDevicesStateV1 } from '../devices/legacy/index.js';
import { PciRoot, PCI_CONFIG_IO_SIZE, type PciRootStateV1 } from '../devices/pci/root.js';
import { ExitKind, type ExitMailbox } from './exit-mailbox.js';
import type { InterruptRouter } from './irq-routing.js';
import type { VmConfig } from './config.js';
import type { SharedGuestRam } from './guest-ram.js';
import type { VirtioPciStateV1 } from '../devices/virtio/transport/pci.js';
import { createVirtioDevices, type VirtioSet } from './virtio-devices.js';

/** Every device's persisted state, for snapshots. */
export interface DevicesStateV1 {
  version: 1;
  legacy: LegacyDevicesStateV1;
  pci: PciRootStateV1;
  /** One per virtio function, in the order the config creates them. */
  virtio: VirtioPciStateV1[];
}

export interface DeviceManagerOptions {
  config: VmConfig;
  ram: SharedGuestRam;
  memory: GuestMemory;
  router: InterruptRouter;
  onConsoleOutput(bytes: Uint8Array): void;
  onPowerOff(): void;
  onReset(reason: string): void;
}

export class DeviceManager {
  readonly pio = new Bus();
  readonly mmio = new Bus();
  readonly legacy: LegacyDevices;
  readonly pci = new PciRoot();
  readonly virtio: VirtioSet;
  /** Problems to report (a device that needed a reset, ...), drained by the worker. */
  readonly warnings: string[] = [];

  constructor(readonly options: DeviceManagerOptions) {
    this.legacy = new LegacyDevices({
      irqs: { com1: options.router.legacyLine(COM1_IRQ), sci: options.router.legacyLine(ACPI_SCI_IRQ), keyboard: options.router.legacyLine(I8042_KBD_IRQ) },
      onSerialOutput: (bytes) => options.onConsoleOutput(bytes),
      onReset: () => options.onReset('the guest reset the machine (i8042 or ACPI reset register)'),
      onPowerOff: () => options.onPowerOff(),
    });
    this.legacy.attach(this.pio);
    this.pio.insert(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_IO_SIZE, this.pci.configIo, 'pci config');
    this.mmio.insert(PCI_ECAM_START, PCI_ECAM_SIZE, this.pci.ecam, 'pci ecam');
    this.virtio = createVirtioDevices({
      config: options.config,
      memory: options.memory,
      ram: options.ram,
      router: options.router,
      pci: this.pci,
      onConsoleOutput: (bytes) => options.onConsoleOutput(bytes),
      onDeviceError: (name, e) => this.warnings.push(`${name}: the guest drove the device into an error; it needs a reset (${(e as Error)?.message ?? String(e)})`),
    });
  }

  /** Puts every PCI BAR on the MMIO bus, and keeps it there when the guest moves it. */
  mapPciBars(onMoved?: (oldAddress: number, newAddress: number) => void): void {
    for (const m of this.pci.barMappings()) this.mmio.insert(m.address, m.size, m.region, m.name);
    this.pci.onBarMoved = (device, bar, oldAddress, newAddress) => {
      const m = this.pci.barMappings().find((x) => x.device === device && x.bar === bar);
      this.mmio.remove(oldAddress);
      if (m && newAddress !== 0) this.mmio.insert(newAddress, m.size, m.region, m.name);
      onMoved?.(oldAddress, newAddress);
    };
  }

  consoleInput(bytes: Uint8Array): void {
    this.legacy.com1.enqueueInput(bytes);
    this.virtio.consoleInput(bytes);
  }

  pressPowerButton(): void {
    this.legacy.acpiPm.pressPowerButton();
  }

  /** Types Ctrl+Alt+Del on the PS/2 keyboard (dropped, like real keystrokes, if the guest disabled the keyboard). */
  pressCtrlAltDel(): void {
    this.legacy.i8042.sendCtrlAltDel();
  }

  save(): DevicesStateV1 {
    return {
      version: 1,
      legacy: this.legacy.save(),
      pci: this.pci.save(),
      virtio: this.virtio.functions.map((f) => f.transport.save()),
    };
  }

  restore(state: DevicesStateV1): void {
    if (state.version !== 1) throw new Error(`device state version ${String(state.version)} is not supported`);
    this.legacy.restore(state.legacy);
    this.pci.restore(state.pci);
    if (state.virtio.length !== this.virtio.functions.length) {
      throw new Error(`snapshot has ${state.virtio.length} virtio devices, the VM has ${this.virtio.functions.length}`);
    }
    state.virtio.forEach((s, i) => this.virtio.functions[i]!.transport.restore(s));
  }

  close(): void {
    for (const f of this.virtio.functions) f.close();
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
