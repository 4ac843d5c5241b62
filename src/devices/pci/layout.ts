/**
 * PCI configuration space layout (PCI Local Bus 3.0 §6.1, type-0 header;
 * PCI Express Base 4.0 §7.2.2 for the 4 KiB ECAM extension).
 */

export const PCI_CONFIG_SPACE_SIZE = 256;
export const PCIE_CONFIG_SPACE_SIZE = 4096;
/** Capabilities start after the 64-byte standard header (PCI 3.0 §6.7). */
export const PCI_CAPABILITY_START = 0x40;

/** Type-0 header field offsets (PCI 3.0 §6.1, figure 6-1). */
export const PciHeader = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  PROG_IF: 0x09,
  SUBCLASS: 0x0a,
  CLASS_CODE: 0x0b,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  BAR_COUNT: 6,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  EXPANSION_ROM: 0x30,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
} as const;

/** Command register bits (PCI 3.0 §6.2.2). */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const PciStatus = {
  CAPABILITIES_LIST: 1 << 4,
} as const;

/** BAR low bits (PCI 3.0 §6.2.5.1). */
export const PciBarBits = {
  IO_SPACE: 0x1,
  MEM_TYPE_64: 0x4,
  PREFETCHABLE: 0x8,
  MEM_ADDRESS_MASK: 0xffff_fff0,
  IO_ADDRESS_MASK: 0xffff_fffc,
} as const;

/** Capability ids (PCI 3.0 appendix H). */
export const PciCapabilityId = {
  MSI: 0x05,
  VENDOR_SPECIFIC: 0x09,
  PCI_EXPRESS: 0x10,
  MSIX: 0x11,
} as const;

/** Class codes used by typevisor devices (PCI Code and ID Assignment spec). */
export const PciClass = {
  HOST_BRIDGE: 0x060000,
  ETHERNET: 0x020000,
  SCSI_STORAGE: 0x010000,
  COMMUNICATION_OTHER: 0x078000,
  SYSTEM_OTHER: 0x088000,
  OTHER: 0xff0000,
} as const;
