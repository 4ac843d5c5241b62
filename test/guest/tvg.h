/* typevisor test guest (TVG): shared declarations. Freestanding: no libc. */
#ifndef TVG_H
#define TVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Port I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* Unaligned little-endian loads from physical memory (identity-mapped). */
static inline uint8_t peek8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t peek16(uint64_t a) { return (uint16_t)(peek8(a) | (peek8(a + 1) << 8)); }
static inline uint32_t peek32(uint64_t a) { return (uint32_t)peek16(a) | ((uint32_t)peek16(a + 2) << 16); }
static inline uint64_t peek64(uint64_t a) { return (uint64_t)peek32(a) | ((uint64_t)peek32(a + 4) << 32); }

/* ---- libc bits the compiler may call ---- */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* One memory map entry (E820 types: 1 usable RAM, 2 reserved, ...). */
struct memory_range {
  uint64_t addr, size;
  uint32_t type;
};

/* ---- linux64-shim.c (QEMU-only: re-enter through the 64-bit boot_params entry) ---- */
__attribute__((noreturn)) void enter_linux64(uint64_t cmdline, const struct memory_range *map, uint32_t count, uint64_t rsdp);

/* ---- console.c: COM1, polled ---- */
void serial_init(void);
void put_char(char c);
void put_str(const char *s);
void put_hex(uint64_t v);      /* 0x-prefixed */
void put_hex_bare(uint64_t v); /* no prefix, no padding */
void put_dec(uint64_t v);
/* Exactly `digits` lowercase hex digits, no prefix. */
void put_hex_digits(uint64_t v, int digits);
/* Starts a line with the "TVG: " prefix every test harness matches on. */
void line_begin(const char *what);
void line_end(void);
bool serial_try_read(uint8_t *out);

/* ---- acpi.c ---- */
struct acpi_info {
  bool found;
  uint64_t rsdp;
  uint32_t lapic_address;
  uint32_t cpu_count;             /* enabled Processor Local APIC entries */
  uint8_t apic_ids[256];
  uint32_t pm1a_cnt_port;         /* 0 if unknown */
  uint32_t pm_timer_port;         /* 0 if unknown */
  uint8_t s5_sleep_type;          /* \_S5 SLP_TYPa from the DSDT, or 5 if not found */
  bool s5_from_dsdt;
  uint8_t reset_space;            /* ACPI GAS address space: 0 memory, 1 I/O; 0xff = no reset register */
  uint64_t reset_address;
  uint8_t reset_value;
};
void acpi_discover(uint64_t rsdp_hint, struct acpi_info *out);

/* ---- timer.c: the TSC, calibrated against the ACPI PM timer ---- */
void timer_init(uint32_t pm_timer_port);
uint64_t timer_tsc_khz(void);
bool timer_calibrated(void);
uint64_t timer_now_us(void);
void delay_us(uint64_t us);

/* ---- memtest.c ---- */
void test_memtest(const struct memory_range *map, uint32_t count);

/* ---- probe.c ---- */
void probe_cpuid(void);
void probe_pci(void);

/* ---- pci.c: bus 0 configuration space through 0xCF8/0xCFC ---- */
uint32_t pci_read32(uint32_t dev, uint32_t fn, uint32_t reg);
/* Calls visit(dev, fn, vendor/device id, ctx) for every function present on bus 0, in order; stops early and returns
 * true when visit returns true. */
typedef bool (*pci_visit_fn)(uint32_t dev, uint32_t fn, uint32_t id, void *ctx);
bool pci_for_each_function(pci_visit_fn visit, void *ctx);
uint16_t pci_read16(uint32_t dev, uint32_t fn, uint32_t reg);
uint8_t pci_read8(uint32_t dev, uint32_t fn, uint32_t reg);
void pci_write32(uint32_t dev, uint32_t fn, uint32_t reg, uint32_t value);
void pci_write16(uint32_t dev, uint32_t fn, uint32_t reg, uint16_t value);
/* The guest-physical address of memory BAR `bar` (64-bit BARs include the next register); 0 for I/O BARs. */
uint64_t pci_bar_address(uint32_t dev, uint32_t fn, uint32_t bar);
/* Walks the capability list: after = 0 gives the first capability's offset, 0 means the end. */
uint32_t pci_next_capability(uint32_t dev, uint32_t fn, uint32_t after);
/* Offset of the first capability with this id, or 0. */
uint32_t pci_find_capability(uint32_t dev, uint32_t fn, uint8_t id);

/* ---- main.c: the IDT ---- */
void idt_set_gate(uint8_t vector, uint64_t handler);

/* ---- interrupts.c: external interrupts through the local APIC ---- */
#define IRQ_FIRST_VECTOR 0x40 /* entry.S has one stub per vector from here */
#define IRQ_VECTOR_COUNT 16
#define IRQ_SPURIOUS_VECTOR (IRQ_FIRST_VECTOR + IRQ_VECTOR_COUNT - 1)
/* Masks the 8259s and LINT0, software-enables the xAPIC, installs the stubs; returns this CPU's APIC id. */
uint8_t interrupts_init(uint32_t lapic_address);
void interrupts_enable(void);
void interrupts_disable(void);
/* Interrupts taken on `vector` (IRQ_FIRST_VECTOR ..) since boot. */
uint32_t interrupt_count(uint8_t vector);

/* ---- virtio.c / virtio-test.c ---- */
void test_virtio(const struct acpi_info *acpi);

/* ---- smp.c ---- */
uint32_t smp_start_aps(const struct acpi_info *acpi);

#endif
