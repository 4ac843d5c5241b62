/**
 * A virtio-pci driver for tests, doing what Linux's virtio_pci_modern does:
 * walk the capability list, find the structures in the BAR, negotiate
 * features, program MSI-X and queues, set DRIVER_OK. Queues are driven with
 * MockDriverQueue. Used by the transport and device tests (and available to
 * other devices' tests).
 */
import { RegionGuestMemory, type GuestMemory } from '../../../memory/guest-memory.js';
import { RecordingMsiController } from '../../interrupts.js';
import { PciCapabilityId, PciHeader } from '../../pci/layout.js';
import { MsixLayout } from '../../pci/msix.js';
import { DeviceStatus } from '../constants.js';
import type { VirtioDevice } from '../device.js';
import { GuestAllocator, MockDriverQueue } from '../queue/mock-driver.js';
import { CommonCfg, VirtioPciCap, VirtioPciCapType } from './layout.js';
import { VirtioPciTransport } from './pci.js';

export interface TestDriverOptions {
  memorySize?: number;
  /** Features to accept from what the device offers (default: all offered). */
  acceptFeatures?: (offered: bigint) => bigint;
  /** Queue size to program (default: each queue's max, capped at 256). */
  queueSize?: number;
  /** Wraps the memory the device sees (fuzzing: count accesses, detect out-of-range ones). */
  wrapMemory?: (memory: RegionGuestMemory) => GuestMemory;
}

export class VirtioPciTestDriver {
  readonly memory: RegionGuestMemory;
  readonly msi = new RecordingMsiController();
  readonly transport: VirtioPciTransport;
  readonly allocator: GuestAllocator;
  readonly queues: MockDriverQueue[] = [];
  /** BAR offsets of the structures, from the capabilities. */
  readonly structures = new Map<number, { offset: number; length: number; multiplier?: number }>();
  offered = 0n;

  constructor(
    device: VirtioDevice,
    readonly options: TestDriverOptions = {},
  ) {
    const size = options.memorySize ?? 4 << 20;
    this.memory = RegionGuestMemory.anonymous(size);
    this.allocator = new GuestAllocator(0x10000, size);
    this.transport = new VirtioPciTransport(device, {
      memory: options.wrapMemory ? options.wrapMemory(this.memory) : this.memory,
      msi: this.msi,
    });
    this.transport.config.setBarAddress(0, 0xc000_0000);
    this.configWrite(PciHeader.COMMAND, 2, 0x6);
    this.findCapabilities();
  }

  configRead(offset: number, size: number): number {
    const data = new Uint8Array(size);
    this.transport.config.read(offset, data);
    return littleEndian(data);
  }

  configWrite(offset: number, size: number, value: number): void {
    this.transport.config.write(offset, toBytes(value, size));
  }

  barRead(offset: number, size: number): number {
    const data = new Uint8Array(size);
    this.transport.barRegion(0)!.read(offset, data);
    return littleEndian(data);
  }

  barWrite(offset: number, size: number, value: number): void {
    this.transport.barRegion(0)!.write(offset, toBytes(value, size));
  }

  private findCapabilities(): void {
    let at = this.configRead(PciHeader.CAPABILITIES_POINTER, 1);
    for (let guard = 0; at !== 0 && guard < 48; guard++) {
      const id = this.configRead(at, 1);
      if (id === PciCapabilityId.VENDOR_SPECIFIC) {
        const type = this.configRead(at + VirtioPciCap.CFG_TYPE, 1);
        const entry: { offset: number; length: number; multiplier?: number } = {
          offset: this.configRead(at + VirtioPciCap.OFFSET, 4),
          length: this.configRead(at + VirtioPciCap.LENGTH, 4),
        };
        if (type === VirtioPciCapType.NOTIFY_CFG) entry.multiplier = this.configRead(at + VirtioPciCap.NOTIFY_OFF_MULTIPLIER, 4);
        if (!this.structures.has(type)) this.structures.set(type, entry);
      } else if (id === PciCapabilityId.MSIX) {
        this.msixCap = at;
      }
      at = this.configRead(at + 1, 1);
    }
  }

  msixCap = 0;

  common(field: number, size: number): number {
    return this.barRead(this.structures.get(VirtioPciCapType.COMMON_CFG)!.offset + field, size);
  }

  setCommon(field: number, size: number, value: number): void {
    this.barWrite(this.structures.get(VirtioPciCapType.COMMON_CFG)!.offset + field, size, value);
  }

  get status(): number {
    return this.common(CommonCfg.DEVICE_STATUS, 1);
  }

  deviceConfigRead(offset: number, size: number): number {
    return this.barRead(this.structures.get(VirtioPciCapType.DEVICE_CFG)!.offset + offset, size);
  }

  deviceConfigWrite(offset: number, size: number, value: number): void {
    this.barWrite(this.structures.get(VirtioPciCapType.DEVICE_CFG)!.offset + offset, size, value);
  }

  /** Programs MSI-X vector `v` with a recognisable message and unmasks it; enables MSI-X. */
  enableMsix(vectors: number): void {
    const control = this.msixCap + MsixLayout.MESSAGE_CONTROL;
    this.configWrite(control, 2, MsixLayout.CONTROL_ENABLE);
    for (let v = 0; v < vectors; v++) {
      const base = 0x4000 + v * MsixLayout.ENTRY_SIZE;
      this.barWrite(base + MsixLayout.ENTRY_ADDRESS_LOW, 4, 0xfee0_0000);
      this.barWrite(base + MsixLayout.ENTRY_ADDRESS_HIGH, 4, 0);
      this.barWrite(base + MsixLayout.ENTRY_DATA, 4, 0x40 + v);
      this.barWrite(base + MsixLayout.ENTRY_VECTOR_CONTROL, 4, 0);
    }
  }

  /** The §3.1.1 initialization sequence. Returns the final status byte. */
  initialize(): number {
    this.setCommon(CommonCfg.DEVICE_STATUS, 1, 0);
    this.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE);
    this.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    this.setCommon(CommonCfg.DEVICE_FEATURE_SELECT, 4, 0);
    const low = BigInt(this.common(CommonCfg.DEVICE_FEATURE, 4));
    this.setCommon(CommonCfg.DEVICE_FEATURE_SELECT, 4, 1);
    const high = BigInt(this.common(CommonCfg.DEVICE_FEATURE, 4));
    this.offered = (high << 32n) | low;
    const accepted = this.options.acceptFeatures ? this.options.acceptFeatures(this.offered) : this.offered;
    this.setCommon(CommonCfg.DRIVER_FEATURE_SELECT, 4, 0);
    this.setCommon(CommonCfg.DRIVER_FEATURE, 4, Number(accepted & 0xffff_ffffn));
    this.setCommon(CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
    this.setCommon(CommonCfg.DRIVER_FEATURE, 4, Number(accepted >> 32n));
    const base = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER;
    this.setCommon(CommonCfg.DEVICE_STATUS, 1, base | DeviceStatus.FEATURES_OK);
    if (!(this.status & DeviceStatus.FEATURES_OK)) return this.status;
    const numQueues = this.common(CommonCfg.NUM_QUEUES, 2);
    this.enableMsix(numQueues + 1);
    this.setCommon(CommonCfg.CONFIG_MSIX_VECTOR, 2, 0);
    for (let i = 0; i < numQueues; i++) {
      this.setCommon(CommonCfg.QUEUE_SELECT, 2, i);
      const max = this.common(CommonCfg.QUEUE_SIZE, 2);
      const size = Math.min(max, this.options.queueSize ?? 256);
      const q = new MockDriverQueue(this.memory, size, this.allocator);
      this.setCommon(CommonCfg.QUEUE_SIZE, 2, size);
      this.setCommon(CommonCfg.QUEUE_MSIX_VECTOR, 2, i + 1);
      this.setCommon(CommonCfg.QUEUE_DESC, 4, q.descTable);
      this.setCommon(CommonCfg.QUEUE_DESC + 4, 4, 0);
      this.setCommon(CommonCfg.QUEUE_DRIVER, 4, q.availRing);
      this.setCommon(CommonCfg.QUEUE_DRIVER + 4, 4, 0);
      this.setCommon(CommonCfg.QUEUE_DEVICE, 4, q.usedRing);
      this.setCommon(CommonCfg.QUEUE_DEVICE + 4, 4, 0);
      this.setCommon(CommonCfg.QUEUE_ENABLE, 2, 1);
      this.queues.push(q);
    }
    this.setCommon(CommonCfg.DEVICE_STATUS, 1, base | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
    return this.status;
  }

  /** Kicks queue `index` through its notify address, as the guest would. */
  kick(index: number): void {
    const notify = this.structures.get(VirtioPciCapType.NOTIFY_CFG)!;
    this.setCommon(CommonCfg.QUEUE_SELECT, 2, index);
    const off = this.common(CommonCfg.QUEUE_NOTIFY_OFF, 2);
    this.barWrite(notify.offset + off * notify.multiplier!, 2, index);
  }

  /** MSI vectors triggered so far for queue `index` (vector index+1) and for config (vector 0). */
  interruptsFor(vector: number): number {
    return this.msi.triggered.filter((v) => v === vector).length;
  }
}

function littleEndian(data: Uint8Array): number {
  let value = 0;
  for (let i = data.length - 1; i >= 0; i--) value = value * 256 + data[i]!;
  return value;
}

function toBytes(value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = value;
  for (let i = 0; i < size; i++) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}
