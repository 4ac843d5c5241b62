/* What the VMM exposes: CPUID vendor and hypervisor signature (Intel SDM vol. 2 CPUID; KVM API doc
 * "KVM CPUID bits"), and the functions on PCI bus 0 via configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2). */
#include "tvg.h"

#define CPUID_VENDOR 0x0
#define CPUID_FEATURES 0x1
#define CPUID_FEATURES_ECX_HYPERVISOR (1u << 31)
#define CPUID_HYPERVISOR_BASE 0x40000000u

#define PCI_DEVICES 32
#define PCI_FUNCTIONS 8
#define PCI_VENDOR_DEVICE 0x00
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_WORD 0x0c /* cache line, latency, header type (bits 16..23), BIST */
#define PCI_HEADER_MULTIFUNCTION (1u << 23)
#define PCI_NO_DEVICE 0xffff

static void cpuid(uint32_t leaf, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static void put_register_chars(uint32_t v) {
  for (int i = 0; i < 4; i++) {
    char c = (char)(v >> (8 * i));
    put_char(c >= 0x21 && c < 0x7f ? c : '.');
  }
}

void probe_cpuid(void) {
  uint32_t r[4];
  cpuid(CPUID_VENDOR, r);
  line_begin("cpuid vendor ");
  put_register_chars(r[1]); /* EBX, EDX, ECX spell the vendor */
  put_register_chars(r[3]);
  put_register_chars(r[2]);
  cpuid(CPUID_FEATURES, r);
  if (r[2] & CPUID_FEATURES_ECX_HYPERVISOR) {
    cpuid(CPUID_HYPERVISOR_BASE, r);
    put_str(" hypervisor ");
    put_register_chars(r[1]); /* EBX, ECX, EDX */
    put_register_chars(r[2]);
    put_register_chars(r[3]);
  }
  line_end();
}

void probe_pci(void) {
  uint32_t found = 0;
  for (uint32_t dev = 0; dev < PCI_DEVICES; dev++) {
    for (uint32_t fn = 0; fn < PCI_FUNCTIONS; fn++) {
      uint32_t id = pci_read32(dev, fn, PCI_VENDOR_DEVICE);
      if ((id & 0xffff) == PCI_NO_DEVICE) {
        if (fn == 0) break;
        continue;
      }
      found++;
      line_begin("pci 00:");
      put_hex_digits(dev, 2);
      put_char('.');
      put_hex_digits(fn, 1);
      put_char(' ');
      put_hex_digits(id & 0xffff, 4);
      put_char(':');
      put_hex_digits(id >> 16, 4);
      put_str(" class ");
      put_hex_digits(pci_read32(dev, fn, PCI_CLASS_REVISION) >> 8, 6);
      line_end();
      if (fn == 0 && !(pci_read32(dev, 0, PCI_HEADER_WORD) & PCI_HEADER_MULTIFUNCTION)) break;
    }
  }
  line_begin("pci-functions ");
  put_dec(found);
  line_end();
}
