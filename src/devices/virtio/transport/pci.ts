/**
 * Modern virtio-pci transport (virtio 1.2 §4.1) with MSI-X.
 *
 * One 64-bit memory BAR holds the common configuration, ISR, device
 * configuration and notification structures plus the MSI-X table and PBA
 * (layout in ./layout.ts). The transport owns feature negotiation, the
 * device status state machine and queue configuration; it activates the
 * device on DRIVER_OK. Any exception from the device (a malformed queue,
 * a bad guest address, or a device bug) marks the device DEVICE_NEEDS_RESET
 * (§2.1.2), raises a configuration-change interrupt and stops further
 * processing until the driver resets it: nothing propagates to the VMM.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { BusDevice } from '../../bus.js';
import type { MsiController } from '../../interrupts.js';
import { PciConfigSpace, type PciConfigStateV1 } from '../../pci/config-space.js';
import type { PciDevice } from '../../pci/device.js';
import { PciCapabilityId, PciClass } from '../../pci/layout.js';
import { Msix, type MsixStateV1 } from '../../pci/msix.js';
import { CORE_FEATURES, DeviceStatus, VIRTIO_MSI_NO_VECTOR, VirtioDeviceType, VirtioFeatureBit, hasFeature } from '../constants.js';
import type { VirtioActivation, VirtioDevice, VirtioDeviceMetrics, VirtioInterrupt } from '../device.js';
import { Virtqueue, type VirtqueueStateV1 } from '../queue/queue.js';
import { VirtioPciCapWindow } from './pci-cfg-cap.js';
import {
  CommonCfg,
  IsrStatus,
  MAX_QUEUES,
  VIRTIO_PCI_DEVICE_ID_BASE,
  VIRTIO_PCI_REVISION,
  VIRTIO_PCI_SUBSYSTEM_ID,
  VIRTIO_PCI_SUBSYSTEM_VENDOR_ID,
  VIRTIO_PCI_VENDOR_ID,
  VirtioPciBar,
  VirtioPciCap,
  VirtioPciCapType,
} from './layout.js';

export interface VirtioPciOptions {
  readonly memory: GuestMemory;
  readonly msi: MsiController;
  /** MSI-X vectors (default: one per queue + one for config changes). */
  readonly msixVectors?: number;
  /** Called (for logging) when the device is marked DEVICE_NEEDS_RESET. */
  readonly onDeviceError?: (error: unknown) => void;
}

export interface VirtioPciStateV1 {
  version: 1;
  deviceType: number;
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  /** Driver-accepted features, as a decimal string (bigint). */
  driverFeatures: string;
  msixConfig: number;
  configGeneration: number;
  queueSelect: number;
  isr: number;
  needsReset: boolean;
  activated: boolean;
  queues: VirtqueueStateV1[];
  pci: PciConfigStateV1;
  msix: MsixStateV1;
  device: unknown;
}

const CLASS_BY_DEVICE_TYPE: Record<number, number> = {
  [VirtioDeviceType.NET]: PciClass.ETHERNET,
  [VirtioDeviceType.BLOCK]: PciClass.SCSI_STORAGE,
  [VirtioDeviceType.CONSOLE]: PciClass.COMMUNICATION_OTHER,
  [VirtioDeviceType.VSOCK]: PciClass.COMMUNICATION_OTHER,
};

const TWO_POW_32 = 0x1_0000_0000;

export class VirtioPciTransport implements PciDevice {
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly msix: Msix;
  readonly queues: Virtqueue[];
  /** Device features offered: the device's own plus VERSION_1, INDIRECT_DESC, EVENT_IDX. */
  readonly offeredFeatures: bigint;

  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private msixConfig = VIRTIO_MSI_NO_VECTOR;
  private configGeneration = 0;
  private queueSelect = 0;
  private isr = 0;
  private needsReset = false;
  private activated = false;
  private readonly barDevice: BusDevice;
  private readonly interrupt: VirtioInterrupt;
  /** Last error that put the device in DEVICE_NEEDS_RESET (diagnostics). */
  lastError: unknown = null;

  constructor(
    readonly device: VirtioDevice,
    private readonly options: VirtioPciOptions,
  ) {
    const queueCount = device.queueMaxSizes.length;
    if (queueCount < 1 || queueCount > MAX_QUEUES) throw new RangeError(`${device.name}: ${queueCount} queues (1..${MAX_QUEUES})`);
    if (device.configSize > VirtioPciBar.DEVICE_CFG_SIZE) throw new RangeError(`${device.name}: config space too large`);
    this.name = `virtio-${device.name}`;
    this.queues = device.queueMaxSizes.map((max) => new Virtqueue(max));
    this.offeredFeatures = device.features | CORE_FEATURES;
    this.config = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_DEVICE_ID_BASE + device.deviceType,
      revisionId: VIRTIO_PCI_REVISION,
      classCode: CLASS_BY_DEVICE_TYPE[device.deviceType] ?? PciClass.OTHER,
      subsystemVendorId: VIRTIO_PCI_SUBSYSTEM_VENDOR_ID,
      subsystemId: VIRTIO_PCI_SUBSYSTEM_ID,
      // No INTx: typevisor delivers only MSI-X, and a pin would make Linux look for an ACPI _PRT route.
      interruptPin: 0,
    });
    this.config.defineBar({ index: VirtioPciBar.INDEX, size: VirtioPciBar.SIZE, kind: 'memory64' });
    this.addVirtioCap(VirtioPciCapType.COMMON_CFG, VirtioPciBar.COMMON_OFFSET, CommonCfg.SIZE);
    this.addVirtioCap(VirtioPciCapType.NOTIFY_CFG, VirtioPciBar.NOTIFY_OFFSET, queueCount * VirtioPciBar.NOTIFY_OFF_MULTIPLIER);
    this.addVirtioCap(VirtioPciCapType.ISR_CFG, VirtioPciBar.ISR_OFFSET, 1);
    if (device.configSize > 0) this.addVirtioCap(VirtioPciCapType.DEVICE_CFG, VirtioPciBar.DEVICE_CFG_OFFSET, device.configSize);
    // §4.1.4.9: the alternative access window through config space (required by the spec, unused by Linux).
    new VirtioPciCapWindow(this.config, (offset, data, isWrite) => {
      if (isWrite) this.barDevice.write(offset, data);
      else this.barDevice.read(offset, data);
    }, VirtioPciBar.SIZE);

    const vectors = options.msixVectors ?? queueCount + 1;
    if (vectors * 16 > VirtioPciBar.MSIX_TABLE_MAX) throw new RangeError(`${device.name}: ${vectors} MSI-X vectors do not fit`);
    this.msix = new Msix(this.config, options.msi, {
      vectors,
      bar: VirtioPciBar.INDEX,
      tableOffset: VirtioPciBar.MSIX_TABLE_OFFSET,
      pbaOffset: VirtioPciBar.MSIX_PBA_OFFSET,
    });
    this.barDevice = { read: (o, d) => this.barRead(o, d), write: (o, d) => this.barWrite(o, d) };
    this.interrupt = {
      signalUsed: (index) => this.signalUsed(index),
      signalConfigChange: () => this.signalConfigChange(),
    };
  }

  private addVirtioCap(type: number, offset: number, length: number): void {
    const size = type === VirtioPciCapType.NOTIFY_CFG ? VirtioPciCap.NOTIFY_SIZE : VirtioPciCap.SIZE;
    const body = new Uint8Array(size);
    const view = new DataView(body.buffer);
    view.setUint8(VirtioPciCap.CAP_LEN, size);
    view.setUint8(VirtioPciCap.CFG_TYPE, type);
    view.setUint8(VirtioPciCap.BAR, VirtioPciBar.INDEX);
    view.setUint32(VirtioPciCap.OFFSET, offset, true);
    view.setUint32(VirtioPciCap.LENGTH, length, true);
    if (type === VirtioPciCapType.NOTIFY_CFG) {
      view.setUint32(VirtioPciCap.NOTIFY_OFF_MULTIPLIER, VirtioPciBar.NOTIFY_OFF_MULTIPLIER, true);
    }
    this.config.addCapability(PciCapabilityId.VENDOR_SPECIFIC, body);
  }

  barRegion(bar: number): BusDevice | undefined {
    return bar === VirtioPciBar.INDEX ? this.barDevice : undefined;
  }

  /** Current device status byte (including DEVICE_NEEDS_RESET). */
  get deviceStatus(): number {
    return this.status;
  }

  /** Features the driver accepted. */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }

  get isActivated(): boolean {
    return this.activated;
  }

  get isBroken(): boolean {
    return this.needsReset;
  }

  /** Guest-physical notify address of each queue: the VMM registers one ioeventfd per entry (4-byte writes). */
  notifyAddresses(): Array<{ address: number; queue: number }> {
    const base = this.config.mappedAddress(VirtioPciBar.INDEX) + VirtioPciBar.NOTIFY_OFFSET;
    return this.queues.map((_, queue) => ({ address: base + queue * VirtioPciBar.NOTIFY_OFF_MULTIPLIER, queue }));
  }

  /** The driver kicked queue `index` (ioeventfd fired, or a write to the notify region). Never throws. */
  notifyQueue(index: number): void {
    if (!this.activated || this.needsReset) return;
    const queue = this.queues[index];
    if (!queue?.isActive) return;
    try {
      this.device.processQueue(index);
    } catch (error) {
      this.fail(error);
    }
  }

  /** The VMM saw the device's backend fd readable. Never throws. */
  backendReady(): void {
    if (!this.activated || this.needsReset || !this.device.onBackendReady) return;
    try {
      this.device.onBackendReady();
    } catch (error) {
      this.fail(error);
    }
  }

  metrics(): VirtioDeviceMetrics {
    return this.device.metrics();
  }

  // ---- BAR decoding --------------------------------------------------------

  private barRead(offset: number, data: Uint8Array): void {
    const B = VirtioPciBar;
    if (offset >= B.COMMON_OFFSET && offset < B.COMMON_OFFSET + B.COMMON_SIZE) {
      this.commonRead(offset - B.COMMON_OFFSET, data);
    } else if (offset >= B.ISR_OFFSET && offset < B.ISR_OFFSET + B.ISR_SIZE) {
      data.fill(0);
      if (offset === B.ISR_OFFSET) {
        // §4.1.4.5: reading the ISR status clears it.
        data[0] = this.isr;
        this.isr = 0;
      }
    } else if (offset >= B.DEVICE_CFG_OFFSET && offset < B.DEVICE_CFG_OFFSET + B.DEVICE_CFG_SIZE) {
      const at = offset - B.DEVICE_CFG_OFFSET;
      if (at + data.length <= this.device.configSize) this.device.readConfig(at, data);
      else data.fill(0);
    } else if (offset >= B.MSIX_TABLE_OFFSET && offset < B.MSIX_TABLE_OFFSET + this.msix.tableSize) {
      this.msix.tableRegion.read(offset - B.MSIX_TABLE_OFFSET, data);
    } else if (offset >= B.MSIX_PBA_OFFSET && offset < B.MSIX_PBA_OFFSET + this.msix.pbaSize) {
      this.msix.pbaRegion.read(offset - B.MSIX_PBA_OFFSET, data);
    } else {
      data.fill(0);
    }
  }

  private barWrite(offset: number, data: Uint8Array): void {
    const B = VirtioPciBar;
    if (offset >= B.COMMON_OFFSET && offset < B.COMMON_OFFSET + B.COMMON_SIZE) {
      this.commonWrite(offset - B.COMMON_OFFSET, data);
    } else if (offset >= B.DEVICE_CFG_OFFSET && offset < B.DEVICE_CFG_OFFSET + B.DEVICE_CFG_SIZE) {
      const at = offset - B.DEVICE_CFG_OFFSET;
      if (at + data.length <= this.device.configSize && !this.needsReset) {
        try {
          this.device.writeConfig(at, data);
        } catch (error) {
          this.fail(error);
        }
      }
    } else if (offset >= B.NOTIFY_OFFSET && offset < B.NOTIFY_OFFSET + B.NOTIFY_SIZE) {
      const at = offset - B.NOTIFY_OFFSET;
      if (at % B.NOTIFY_OFF_MULTIPLIER === 0) this.notifyQueue(at / B.NOTIFY_OFF_MULTIPLIER);
    } else if (offset >= B.MSIX_TABLE_OFFSET && offset < B.MSIX_TABLE_OFFSET + this.msix.tableSize) {
      this.msix.tableRegion.write(offset - B.MSIX_TABLE_OFFSET, data);
    }
  }

  // ---- Common configuration (§4.1.4.3) -------------------------------------

  private get selectedQueue(): Virtqueue | undefined {
    return this.queues[this.queueSelect];
  }

  private commonRead(offset: number, data: Uint8Array): void {
    const image = new Uint8Array(CommonCfg.SIZE);
    const v = new DataView(image.buffer);
    const featureWord = this.deviceFeatureSelect < 2 ? Number((this.offeredFeatures >> BigInt(32 * this.deviceFeatureSelect)) & 0xffff_ffffn) : 0;
    const driverWord = this.driverFeatureSelect < 2 ? Number((this.driverFeatures >> BigInt(32 * this.driverFeatureSelect)) & 0xffff_ffffn) : 0;
    v.setUint32(CommonCfg.DEVICE_FEATURE_SELECT, this.deviceFeatureSelect, true);
    v.setUint32(CommonCfg.DEVICE_FEATURE, featureWord, true);
    v.setUint32(CommonCfg.DRIVER_FEATURE_SELECT, this.driverFeatureSelect, true);
    v.setUint32(CommonCfg.DRIVER_FEATURE, driverWord, true);
    v.setUint16(CommonCfg.CONFIG_MSIX_VECTOR, this.msixConfig, true);
    v.setUint16(CommonCfg.NUM_QUEUES, this.queues.length, true);
    v.setUint8(CommonCfg.DEVICE_STATUS, this.status);
    v.setUint8(CommonCfg.CONFIG_GENERATION, this.configGeneration);
    v.setUint16(CommonCfg.QUEUE_SELECT, this.queueSelect, true);
    const q = this.selectedQueue;
    if (q) {
      // §4.1.4.3.2: an unavailable queue reads size 0; existing queues report their current size.
      v.setUint16(CommonCfg.QUEUE_SIZE, q.size, true);
      v.setUint16(CommonCfg.QUEUE_MSIX_VECTOR, q.msixVector, true);
      v.setUint16(CommonCfg.QUEUE_ENABLE, q.ready ? 1 : 0, true);
      v.setUint16(CommonCfg.QUEUE_NOTIFY_OFF, this.queueSelect, true);
      setU64(v, CommonCfg.QUEUE_DESC, q.descTable);
      setU64(v, CommonCfg.QUEUE_DRIVER, q.availRing);
      setU64(v, CommonCfg.QUEUE_DEVICE, q.usedRing);
      v.setUint16(CommonCfg.QUEUE_NOTIFY_DATA, this.queueSelect, true);
    } else {
      v.setUint16(CommonCfg.QUEUE_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR, true);
    }
    for (let i = 0; i < data.length; i++) data[i] = image[offset + i] ?? 0;
  }

  private commonWrite(offset: number, data: Uint8Array): void {
    const size = data.length;
    const v = new DataView(data.buffer, data.byteOffset, size);
    const value = size === 1 ? v.getUint8(0) : size === 2 ? v.getUint16(0, true) : size === 4 ? v.getUint32(0, true) : size === 8 ? Number(v.getBigUint64(0, true)) : -1;
    if (value < 0) return;
    const q = this.selectedQueue;
    const queueWritable = q !== undefined && !q.ready && !this.activated;
    switch (`${offset}:${size}`) {
      case `${CommonCfg.DEVICE_FEATURE_SELECT}:4`:
        this.deviceFeatureSelect = value;
        return;
      case `${CommonCfg.DRIVER_FEATURE_SELECT}:4`:
        this.driverFeatureSelect = value;
        return;
      case `${CommonCfg.DRIVER_FEATURE}:4`:
        // §3.1.1: features are fixed once FEATURES_OK is set.
        if (this.driverFeatureSelect < 2 && !(this.status & DeviceStatus.FEATURES_OK)) {
          const shift = BigInt(32 * this.driverFeatureSelect);
          this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(value) << shift);
        }
        return;
      case `${CommonCfg.CONFIG_MSIX_VECTOR}:2`:
        this.msixConfig = this.validVector(value);
        return;
      case `${CommonCfg.DEVICE_STATUS}:1`:
        this.writeStatus(value);
        return;
      case `${CommonCfg.QUEUE_SELECT}:2`:
        this.queueSelect = value;
        return;
      case `${CommonCfg.QUEUE_SIZE}:2`:
        // Validated (power of two, <= max) when the queue is activated.
        if (queueWritable) q.size = value;
        return;
      case `${CommonCfg.QUEUE_MSIX_VECTOR}:2`:
        if (q) q.msixVector = this.validVector(value);
        return;
      case `${CommonCfg.QUEUE_ENABLE}:2`:
        // §4.1.4.3.2: the driver only writes 1; disabling needs RING_RESET, which is not offered.
        if (queueWritable && value === 1) q.ready = true;
        return;
    }
    if (!queueWritable) return;
    const field = addressField(offset, size);
    if (!field) return;
    const [name, half] = field;
    const current = q[name];
    if (half === 'low') q[name] = Math.floor(current / TWO_POW_32) * TWO_POW_32 + value;
    else if (half === 'high') q[name] = value * TWO_POW_32 + (current % TWO_POW_32);
    else q[name] = value;
  }

  /** §4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR. */
  private validVector(vector: number): number {
    return vector < this.msix.vectors ? vector : VIRTIO_MSI_NO_VECTOR;
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    let next = value & ~DeviceStatus.DEVICE_NEEDS_RESET;
    const added = next & ~this.status;
    if (added & DeviceStatus.FEATURES_OK && !this.featuresAcceptable()) {
      // §3.1.1 step 6: leave FEATURES_OK clear so the driver sees the negotiation failed.
      next &= ~DeviceStatus.FEATURES_OK;
    }
    this.status = next | (this.needsReset ? DeviceStatus.DEVICE_NEEDS_RESET : 0);
    if (added & DeviceStatus.DRIVER_OK && this.status & DeviceStatus.FEATURES_OK && !this.activated && !this.needsReset) {
      this.activate();
    }
  }

  private featuresAcceptable(): boolean {
    const unknown = this.driverFeatures & ~this.offeredFeatures;
    return unknown === 0n && hasFeature(this.driverFeatures, VirtioFeatureBit.VERSION_1);
  }

  private activationContext(): VirtioActivation {
    return {
      memory: this.options.memory,
      queues: this.queues,
      interrupt: this.interrupt,
      features: this.driverFeatures,
      fail: (error) => this.fail(error),
    };
  }

  private activate(): void {
    try {
      const eventIdx = hasFeature(this.driverFeatures, VirtioFeatureBit.RING_EVENT_IDX);
      for (const q of this.queues) if (q.ready) q.activate(this.options.memory, eventIdx);
      this.activated = true;
      this.device.activate(this.activationContext());
      // Drivers may add buffers and kick before DRIVER_OK (Linux's virtio_balloon queues its stats
      // buffer in probe), and notifications racing a snapshot are not persisted: look at every
      // queue once now, so nothing waits for a kick that already happened.
      this.queues.forEach((q, i) => q.isActive && this.device.processQueue(i));
    } catch (error) {
      this.fail(error);
    }
  }

  /** Device reset (status 0, §2.4): the PCI function (MSI-X table, BARs) is untouched. */
  reset(): void {
    try {
      this.device.reset();
    } catch (error) {
      this.lastError = error;
    }
    for (const q of this.queues) q.reset();
    this.status = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.msixConfig = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    this.isr = 0;
    this.needsReset = false;
    this.activated = false;
  }

  private fail(error: unknown): void {
    this.lastError = error;
    if (this.needsReset) return;
    this.needsReset = true;
    this.status |= DeviceStatus.DEVICE_NEEDS_RESET;
    try {
      this.options.onDeviceError?.(error);
    } catch {
      // A logging hook must not take the VMM down either.
    }
    // The device stops here: drop its activation so host-initiated work cannot touch the queues.
    try {
      this.device.reset();
    } catch {
      // Already failing; nothing more to report.
    }
    // §2.1.2: a device that sets DEVICE_NEEDS_RESET after DRIVER_OK sends a config change notification.
    if (this.status & DeviceStatus.DRIVER_OK) this.signalConfigChange();
  }

  // ---- Interrupts -----------------------------------------------------------

  private signalUsed(index: number): void {
    const q = this.queues[index];
    if (!q?.isActive || !q.needsNotification()) return;
    this.isr |= IsrStatus.QUEUE;
    if (q.msixVector !== VIRTIO_MSI_NO_VECTOR) this.msix.trigger(q.msixVector);
  }

  private signalConfigChange(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    this.isr |= IsrStatus.CONFIG;
    if (this.msixConfig !== VIRTIO_MSI_NO_VECTOR) this.msix.trigger(this.msixConfig);
  }

  // ---- Save / restore ---------------------------------------------------------

  save(): VirtioPciStateV1 {
    return {
      version: 1,
      deviceType: this.device.deviceType,
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures.toString(),
      msixConfig: this.msixConfig,
      configGeneration: this.configGeneration,
      queueSelect: this.queueSelect,
      isr: this.isr,
      needsReset: this.needsReset,
      activated: this.activated,
      queues: this.queues.map((q) => q.save()),
      pci: this.config.save(),
      msix: this.msix.save(),
      device: this.device.save(),
    };
  }

  /** Restores into a freshly built transport for the same device; re-activates the device if it was running. */
  restore(state: VirtioPciStateV1): void {
    if (state.version !== 1) throw new Error(`virtio-pci state version ${String(state.version)} is not supported`);
    if (state.deviceType !== this.device.deviceType) {
      throw new Error(`virtio-pci state is for device type ${state.deviceType}, not ${this.device.deviceType}`);
    }
    if (state.queues.length !== this.queues.length) throw new Error(`virtio-pci state has ${state.queues.length} queues, device has ${this.queues.length}`);
    this.config.restore(state.pci);
    this.msix.restore(state.msix);
    state.queues.forEach((q, i) => this.queues[i]!.restore(q));
    this.status = state.status;
    this.deviceFeatureSelect = state.deviceFeatureSelect;
    this.driverFeatureSelect = state.driverFeatureSelect;
    this.driverFeatures = BigInt(state.driverFeatures);
    this.msixConfig = state.msixConfig;
    this.configGeneration = state.configGeneration;
    this.queueSelect = state.queueSelect;
    this.isr = state.isr;
    this.needsReset = state.needsReset;
    this.activated = false;
    this.device.restore(state.device);
    if (state.activated && !state.needsReset) this.activate();
    else this.activated = state.activated;
  }
}

type AddressField = 'descTable' | 'availRing' | 'usedRing';

function addressField(offset: number, size: number): [AddressField, 'low' | 'high' | 'full'] | null {
  const fields: Array<[number, AddressField]> = [
    [CommonCfg.QUEUE_DESC, 'descTable'],
    [CommonCfg.QUEUE_DRIVER, 'availRing'],
    [CommonCfg.QUEUE_DEVICE, 'usedRing'],
  ];
  for (const [base, name] of fields) {
    if (size === 8 && offset === base) return [name, 'full'];
    if (size === 4 && offset === base) return [name, 'low'];
    if (size === 4 && offset === base + 4) return [name, 'high'];
  }
  return null;
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_POW_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32) >>> 0, true);
}
