/* PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2) on bus 0, memory BARs (§6.2.5.1) and the
 * capability list (§6.7). Config accesses are dword-wide; narrower fields are extracted or merged here. */
#include "tvg.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_ENABLE (1u << 31)
#define PCI_STATUS 0x06
#define PCI_STATUS_CAPABILITIES (1u << 4)
#define PCI_BAR0 0x10
#define PCI_BAR_COUNT 6
#define PCI_BAR_IO_SPACE 0x1
#define PCI_BAR_TYPE_MASK 0x6
#define PCI_BAR_TYPE_64 0x4
#define PCI_BAR_ADDRESS_MASK 0xfffffff0u
#define PCI_CAPABILITIES_POINTER 0x34
#define PCI_CAP_POINTER_MASK 0xfc
#define PCI_CAP_MAX 48 /* a 256-byte space holds at most 48 capabilities: bounds a looping list */

#define PCI_DEVICES 32
#define PCI_FUNCTIONS 8
#define PCI_VENDOR_DEVICE 0x00
#define PCI_HEADER_WORD 0x0c /* cache line, latency, header type (bits 16..23), BIST */
#define PCI_HEADER_MULTIFUNCTION (1u << 23)
#define PCI_NO_DEVICE 0xffff

static void select_register(uint32_t dev, uint32_t fn, uint32_t reg) {
  outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | (dev << 11) | (fn << 8) | (reg & 0xfc));
}

uint32_t pci_read32(uint32_t dev, uint32_t fn, uint32_t reg) {
  select_register(dev, fn, reg);
  return inl(PCI_CONFIG_DATA);
}

uint16_t pci_read16(uint32_t dev, uint32_t fn, uint32_t reg) {
  return (uint16_t)(pci_read32(dev, fn, reg) >> (8 * (reg & 2)));
}

uint8_t pci_read8(uint32_t dev, uint32_t fn, uint32_t reg) {
  return (uint8_t)(pci_read32(dev, fn, reg) >> (8 * (reg & 3)));
}

void pci_write32(uint32_t dev, uint32_t fn, uint32_t reg, uint32_t value) {
  select_register(dev, fn, reg);
  outl(PCI_CONFIG_DATA, value);
}

void pci_write16(uint32_t dev, uint32_t fn, uint32_t reg, uint16_t value) {
  select_register(dev, fn, reg);
  outw((uint16_t)(PCI_CONFIG_DATA + (reg & 2)), value);
}

uint64_t pci_bar_address(uint32_t dev, uint32_t fn, uint32_t bar) {
  if (bar >= PCI_BAR_COUNT) return 0;
  uint32_t low = pci_read32(dev, fn, PCI_BAR0 + 4 * bar);
  if (low & PCI_BAR_IO_SPACE) return 0;
  uint64_t address = low & PCI_BAR_ADDRESS_MASK;
  if ((low & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64 && bar + 1 < PCI_BAR_COUNT)
    address |= (uint64_t)pci_read32(dev, fn, PCI_BAR0 + 4 * (bar + 1)) << 32;
  return address;
}

uint32_t pci_next_capability(uint32_t dev, uint32_t fn, uint32_t after) {
  if (after == 0) {
    if (!(pci_read16(dev, fn, PCI_STATUS) & PCI_STATUS_CAPABILITIES)) return 0;
    return pci_read8(dev, fn, PCI_CAPABILITIES_POINTER) & PCI_CAP_POINTER_MASK;
  }
  return pci_read8(dev, fn, after + 1) & PCI_CAP_POINTER_MASK;
}

uint32_t pci_find_capability(uint32_t dev, uint32_t fn, uint8_t id) {
  uint32_t at = pci_next_capability(dev, fn, 0);
  for (int n = 0; at && n < PCI_CAP_MAX; n++, at = pci_next_capability(dev, fn, at))
    if (pci_read8(dev, fn, at) == id) return at;
  return 0;
}

bool pci_for_each_function(pci_visit_fn visit, void *ctx) {
  for (uint32_t dev = 0; dev < PCI_DEVICES; dev++) {
    for (uint32_t fn = 0; fn < PCI_FUNCTIONS; fn++) {
      uint32_t id = pci_read32(dev, fn, PCI_VENDOR_DEVICE);
      if ((id & 0xffff) == PCI_NO_DEVICE) {
        if (fn == 0) break; /* no device: its other functions cannot exist either */
        continue;
      }
      if (visit(dev, fn, id, ctx)) return true;
      if (fn == 0 && !(pci_read32(dev, 0, PCI_HEADER_WORD) & PCI_HEADER_MULTIFUNCTION)) break;
    }
  }
  return false;
}
