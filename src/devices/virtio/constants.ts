/**
 * Constants shared by every virtio device and transport (virtio 1.2).
 */

/** Device status bits (virtio 1.2 §2.1). */
export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  /** §2.1.2: the device hit an error it cannot recover from; the driver must reset it. */
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** Virtio device type ids (virtio 1.2 §5). The PCI device id is 0x1040 + this. */
export const VirtioDeviceType = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  RNG: 4,
  BALLOON: 5,
  VSOCK: 19,
} as const;

/** Reserved (device-independent) feature bits, as bit numbers (virtio 1.2 §6). */
export const VirtioFeatureBit = {
  /** §2.7.5.3 indirect descriptors. */
  RING_INDIRECT_DESC: 28,
  /** §2.7.7.2 / §2.7.10 used_event and avail_event notification suppression. */
  RING_EVENT_IDX: 29,
  /** Mandatory for modern (non-legacy) devices. */
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  RING_RESET: 40,
} as const;

/** `1n << BigInt(bit)`, for composing feature masks. */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

export function hasFeature(features: bigint, bit: number): boolean {
  return (features & featureBit(bit)) !== 0n;
}

/** Features every device gets from the core (the transport adds them to the device's own). */
export const CORE_FEATURES =
  featureBit(VirtioFeatureBit.VERSION_1) |
  featureBit(VirtioFeatureBit.RING_INDIRECT_DESC) |
  featureBit(VirtioFeatureBit.RING_EVENT_IDX);

/** "No MSI-X vector" for msix_config / queue_msix_vector (virtio 1.2 §4.1.4.3). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
