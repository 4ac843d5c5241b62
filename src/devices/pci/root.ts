/**
 * PCI root complex for bus 0: configuration mechanism #1 on ports
 * 0xCF8/0xCFC (PCI Local Bus 3.0 §3.2.2.3.2) and ECAM (PCI Express Base
 * §7.2.2, described to the guest by the ACPI MCFG table), a host bridge at
 * device 0, and BAR assignment for the devices added.
 */
import { PCI_ECAM_SIZE } from '../../arch/x86_64/layout.js';
import type { BusDevice } from '../bus.js';
import { BarAllocator } from './bar-allocator.js';
import type { PciDevice } from './device.js';
import { PciHostBridge } from './device.js';

export const PCI_SLOTS = 32;
/** CONFIG_ADDRESS register (0xCF8) fields. */
export const PciConfigAddress = {
  ENABLE: 0x8000_0000,
  BUS_SHIFT: 16,
  DEVICE_SHIFT: 11,
  FUNCTION_SHIFT: 8,
  REGISTER_MASK: 0xfc,
} as const;
/** ECAM offset = bus << 20 | device << 15 | function << 12 | register. */
export const EcamAddress = {
  BUS_SHIFT: 20,
  DEVICE_SHIFT: 15,
  FUNCTION_SHIFT: 12,
  REGISTER_MASK: 0xfff,
} as const;
/** Size of the port range at PCI_CONFIG_ADDRESS_PORT covering CONFIG_ADDRESS and CONFIG_DATA. */
export const PCI_CONFIG_IO_SIZE = 8;

export type PciBarMovedHook = (device: PciDevice, bar: number, oldAddress: number, newAddress: number) => void;

export interface PciBarMapping {
  readonly device: PciDevice;
  readonly slot: number;
  readonly bar: number;
  readonly address: number;
  readonly size: number;
  readonly region: BusDevice;
  /** Bus listing name, e.g. "00:03.0 virtio-net BAR0". */
  readonly name: string;
}

export interface PciRootStateV1 {
  version: 1;
  configAddress: number;
}

export class PciRoot {
  private readonly slots: Array<PciDevice | undefined> = new Array(PCI_SLOTS).fill(undefined);
  private configAddress = 0;
  /** Set by the VMM: re-register the BAR's MMIO range (and ioeventfds) at the new address. */
  onBarMoved: PciBarMovedHook | null = null;
  readonly hostBridge = new PciHostBridge();

  /** Ports PCI_CONFIG_ADDRESS_PORT .. +PCI_CONFIG_IO_SIZE (CONFIG_ADDRESS + CONFIG_DATA). */
  readonly configIo: BusDevice = {
    read: (offset, data) => this.ioRead(offset, data),
    write: (offset, data) => this.ioWrite(offset, data),
  };
  /** MMIO at PCI_ECAM_START, PCI_ECAM_SIZE bytes. */
  readonly ecam: BusDevice = {
    read: (offset, data) => this.ecamAccess(offset, data, false),
    write: (offset, data) => this.ecamAccess(offset, data, true),
  };

  constructor(readonly allocator: BarAllocator = new BarAllocator()) {
    this.attach(0, this.hostBridge);
  }

  /**
   * Adds a device in the first free slot (or `slot`), assigns addresses to its
   * memory BARs, and returns the slot number (its PCI device number on bus 0).
   */
  addDevice(device: PciDevice, slot?: number): number {
    const at = slot ?? this.slots.findIndex((s) => s === undefined);
    if (at < 0) throw new Error(`no free PCI slot for ${device.name}`);
    if (!Number.isInteger(at) || at < 0 || at >= PCI_SLOTS) throw new RangeError(`PCI slot ${at} is out of range 0..31`);
    if (this.slots[at]) throw new Error(`PCI slot ${at} is taken by ${this.slots[at]!.name}`);
    for (const def of device.config.definedBars()) {
      if (def.kind !== 'io') device.config.setBarAddress(def.index, this.allocator.allocate(def));
    }
    this.attach(at, device);
    return at;
  }

  private attach(slot: number, device: PciDevice): void {
    this.slots[slot] = device;
    device.config.onBarMoved = (bar, oldAddress, newAddress) => this.onBarMoved?.(device, bar, oldAddress, newAddress);
  }

  devices(): Array<{ slot: number; device: PciDevice }> {
    const out: Array<{ slot: number; device: PciDevice }> = [];
    this.slots.forEach((device, slot) => device && out.push({ slot, device }));
    return out;
  }

  /** Every memory BAR with its current address: what the VMM registers on the MMIO bus. */
  barMappings(): PciBarMapping[] {
    const out: PciBarMapping[] = [];
    for (const { slot, device } of this.devices()) {
      for (const def of device.config.definedBars()) {
        const region = device.barRegion(def.index);
        if (def.kind === 'io' || !region) continue;
        out.push({
          device,
          slot,
          bar: def.index,
          address: device.config.mappedAddress(def.index),
          size: def.size,
          region,
          name: `00:${slot.toString(16).padStart(2, '0')}.0 ${device.name} BAR${def.index}`,
        });
      }
    }
    return out;
  }

  /** Config access by (bus, device, function); absent functions read as all ones. */
  readConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    const device = this.lookup(bus, slot, fn);
    if (device) device.config.read(offset, data);
    else data.fill(0xff);
  }

  writeConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    this.lookup(bus, slot, fn)?.config.write(offset, data);
  }

  private lookup(bus: number, slot: number, fn: number): PciDevice | undefined {
    if (bus !== 0 || fn !== 0) return undefined;
    return this.slots[slot];
  }

  private ioRead(offset: number, data: Uint8Array): void {
    if (offset === 0 && data.length === 4) {
      new DataView(data.buffer, data.byteOffset, 4).setUint32(0, this.configAddress, true);
      return;
    }
    if (offset >= 4 && this.configAddress & PciConfigAddress.ENABLE) {
      const [bus, slot, fn, register] = this.decodeConfigAddress();
      this.readConfig(bus, slot, fn, register + (offset - 4), data);
      return;
    }
    data.fill(0xff);
  }

  private ioWrite(offset: number, data: Uint8Array): void {
    if (offset === 0 && data.length === 4) {
      this.configAddress = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
      return;
    }
    // Byte/word writes to 0xCF8..0xCFB are not CONFIG_ADDRESS accesses (PCI 3.0 §3.2.2.3.2): ignored.
    if (offset >= 4 && this.configAddress & PciConfigAddress.ENABLE) {
      const [bus, slot, fn, register] = this.decodeConfigAddress();
      this.writeConfig(bus, slot, fn, register + (offset - 4), data);
    }
  }

  private decodeConfigAddress(): [number, number, number, number] {
    const a = this.configAddress;
    return [
      (a >>> PciConfigAddress.BUS_SHIFT) & 0xff,
      (a >>> PciConfigAddress.DEVICE_SHIFT) & 0x1f,
      (a >>> PciConfigAddress.FUNCTION_SHIFT) & 0x7,
      a & PciConfigAddress.REGISTER_MASK,
    ];
  }

  private ecamAccess(offset: number, data: Uint8Array, isWrite: boolean): void {
    if (offset < 0 || offset + data.length > PCI_ECAM_SIZE) {
      if (!isWrite) data.fill(0xff);
      return;
    }
    const bus = offset >>> EcamAddress.BUS_SHIFT;
    const slot = (offset >>> EcamAddress.DEVICE_SHIFT) & 0x1f;
    const fn = (offset >>> EcamAddress.FUNCTION_SHIFT) & 0x7;
    const register = offset & EcamAddress.REGISTER_MASK;
    // An access must not straddle two functions' spaces.
    if (register + data.length > 0x1000) {
      if (!isWrite) data.fill(0xff);
      return;
    }
    if (isWrite) this.writeConfig(bus, slot, fn, register, data);
    else this.readConfig(bus, slot, fn, register, data);
  }

  save(): PciRootStateV1 {
    return { version: 1, configAddress: this.configAddress };
  }

  restore(state: PciRootStateV1): void {
    if (state.version !== 1) throw new Error(`PCI root state version ${String(state.version)} is not supported`);
    this.configAddress = state.configAddress >>> 0;
  }
}
