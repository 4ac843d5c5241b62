/**
 * Modern virtio-pci layout (virtio 1.2 §4.1.4): the vendor-specific
 * capabilities, the common configuration structure, and where typevisor
 * puts each structure inside the device's one 64-bit memory BAR.
 */

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** §4.1.2.1: modern device id = 0x1040 + virtio device type. */
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;
/** §4.1.2.1: non-transitional devices SHOULD have revision id 1. */
export const VIRTIO_PCI_REVISION = 1;
/** Subsystem ids (§4.1.2.1: may reflect the environment): QEMU's, which drivers never check. */
export const VIRTIO_PCI_SUBSYSTEM_VENDOR_ID = 0x1af4;
export const VIRTIO_PCI_SUBSYSTEM_ID = 0x1100;

/** struct virtio_pci_cap (§4.1.4). */
export const VirtioPciCap = {
  SIZE: 16,
  CAP_LEN: 2,
  CFG_TYPE: 3,
  BAR: 4,
  ID: 5,
  OFFSET: 8,
  LENGTH: 12,
  /** struct virtio_pci_notify_cap adds notify_off_multiplier (§4.1.4.4). */
  NOTIFY_SIZE: 20,
  NOTIFY_OFF_MULTIPLIER: 16,
  /** struct virtio_pci_cfg_cap adds pci_cfg_data[4] (§4.1.4.9). */
  PCI_CFG_SIZE: 20,
  PCI_CFG_DATA: 16,
} as const;

/** cfg_type values (§4.1.4). */
export const VirtioPciCapType = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
} as const;

/** struct virtio_pci_common_cfg (§4.1.4.3). */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: 0x00, // le32 RW
  DEVICE_FEATURE: 0x04, // le32 RO
  DRIVER_FEATURE_SELECT: 0x08, // le32 RW
  DRIVER_FEATURE: 0x0c, // le32 RW
  CONFIG_MSIX_VECTOR: 0x10, // le16 RW
  NUM_QUEUES: 0x12, // le16 RO
  DEVICE_STATUS: 0x14, // u8 RW
  CONFIG_GENERATION: 0x15, // u8 RO
  QUEUE_SELECT: 0x16, // le16 RW
  QUEUE_SIZE: 0x18, // le16 RW
  QUEUE_MSIX_VECTOR: 0x1a, // le16 RW
  QUEUE_ENABLE: 0x1c, // le16 RW
  QUEUE_NOTIFY_OFF: 0x1e, // le16 RO
  QUEUE_DESC: 0x20, // le64 RW
  QUEUE_DRIVER: 0x28, // le64 RW
  QUEUE_DEVICE: 0x30, // le64 RW
  QUEUE_NOTIFY_DATA: 0x38, // le16 RO
  QUEUE_RESET: 0x3a, // le16 RW (VIRTIO_F_RING_RESET)
  SIZE: 0x3c,
} as const;

/** ISR status bits (§4.1.4.5). */
export const IsrStatus = {
  QUEUE: 1,
  CONFIG: 2,
} as const;

/**
 * typevisor's BAR0 (64-bit memory, 32 KiB): each structure in its own 4 KiB
 * page so the VMM can map them separately; one 4-byte notify slot per queue
 * (notify_off_multiplier 4) so every queue has its own ioeventfd address.
 */
export const VirtioPciBar = {
  INDEX: 0,
  SIZE: 0x8000,
  COMMON_OFFSET: 0x0000,
  COMMON_SIZE: 0x1000,
  ISR_OFFSET: 0x1000,
  ISR_SIZE: 0x1000,
  DEVICE_CFG_OFFSET: 0x2000,
  DEVICE_CFG_SIZE: 0x1000,
  NOTIFY_OFFSET: 0x3000,
  NOTIFY_SIZE: 0x1000,
  NOTIFY_OFF_MULTIPLIER: 4,
  MSIX_TABLE_OFFSET: 0x4000,
  MSIX_TABLE_MAX: 0x2000,
  MSIX_PBA_OFFSET: 0x6000,
  MSIX_PBA_MAX: 0x1000,
} as const;

/** Queues one device may have: limited by the notify page (0x1000 / 4). */
export const MAX_QUEUES = VirtioPciBar.NOTIFY_SIZE / VirtioPciBar.NOTIFY_OFF_MULTIPLIER;
