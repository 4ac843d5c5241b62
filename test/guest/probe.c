/* What the VMM exposes: CPUID vendor and hypervisor signature (Intel SDM vol. 2 CPUID; KVM API doc
 * "KVM CPUID bits"), and the functions on PCI bus 0 via configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2). */
#include "tvg.h"

#define CPUID_VENDOR 0x0
#define CPUID_FEATURES 0x1
#define CPUID_FEATURES_ECX_HYPERVISOR (1u << 31)
#define CPUID_HYPERVISOR_BASE 0x40000000u

#define PCI_CLASS_REVISION 0x08

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

static bool print_function(uint32_t dev, uint32_t fn, uint32_t id, void *ctx) {
  uint32_t *found = ctx;
  (*found)++;
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
  return false;
}

void probe_pci(void) {
  uint32_t found = 0;
  pci_for_each_function(print_function, &found);
  line_begin("pci-functions ");
  put_dec(found);
  line_end();
}
