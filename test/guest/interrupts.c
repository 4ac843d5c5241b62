/* External interrupts for the device tests: the local APIC in xAPIC mode (Intel SDM vol. 3 ch. 10), an IDT stub
 * per vector (entry.S) and a counter per vector. MSI/MSI-X messages name a vector and a destination APIC id
 * directly (SDM vol. 3 §10.11), so neither the 8259s nor the IOAPIC take part: both are kept masked, so that a
 * legacy timer left running by firmware (SeaBIOS programs the PIT under QEMU) cannot reach us. */
#include "tvg.h"

#define DEFAULT_LAPIC_BASE 0xfee00000u
/* xAPIC registers (SDM vol. 3 Table 10-1) */
#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_LINT0 0x350
#define SVR_APIC_ENABLE 0x100
#define LVT_MASKED (1u << 16)
/* 8259 interrupt mask registers (OCW1): all lines masked */
#define PIC_MASTER_IMR 0x21
#define PIC_SLAVE_IMR 0xa1
#define PIC_ALL_MASKED 0xff
#define IRQ_STUB_SIZE 16

extern const uint8_t tvg_interrupt_stubs[];

static uint64_t lapic_base = DEFAULT_LAPIC_BASE;
static volatile uint32_t counts[IRQ_VECTOR_COUNT];

static uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(uintptr_t)(lapic_base + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(lapic_base + reg) = v; }

uint8_t interrupts_init(uint32_t lapic_address) {
  if (lapic_address) lapic_base = lapic_address;
  outb(PIC_MASTER_IMR, PIC_ALL_MASKED);
  outb(PIC_SLAVE_IMR, PIC_ALL_MASKED);
  for (int i = 0; i < IRQ_VECTOR_COUNT; i++)
    idt_set_gate((uint8_t)(IRQ_FIRST_VECTOR + i), (uint64_t)(uintptr_t)tvg_interrupt_stubs + (uint64_t)i * IRQ_STUB_SIZE);
  lapic_write(LAPIC_LVT_LINT0, LVT_MASKED); /* KVM and firmware leave LINT0 as ExtINT from the 8259 */
  lapic_write(LAPIC_TPR, 0);                /* accept every priority class */
  /* A software-disabled APIC drops fixed interrupts (SDM §10.4.7.2), MSIs included. */
  lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | IRQ_SPURIOUS_VECTOR);
  return (uint8_t)(lapic_read(LAPIC_ID) >> 24);
}

void interrupts_enable(void) { __asm__ volatile("sti" ::: "memory"); }
void interrupts_disable(void) { __asm__ volatile("cli" ::: "memory"); }

uint32_t interrupt_count(uint8_t vector) {
  if (vector < IRQ_FIRST_VECTOR || vector >= IRQ_FIRST_VECTOR + IRQ_VECTOR_COUNT) return 0;
  return counts[vector - IRQ_FIRST_VECTOR];
}

/* Called by the stubs in entry.S with interrupts off. */
void tvg_interrupt(uint64_t vector) {
  if (vector < IRQ_FIRST_VECTOR || vector >= IRQ_FIRST_VECTOR + IRQ_VECTOR_COUNT) return;
  counts[vector - IRQ_FIRST_VECTOR]++;
  /* A spurious interrupt is not in service: it must not be EOIed (SDM §10.9). */
  if (vector != IRQ_SPURIOUS_VECTOR) lapic_write(LAPIC_EOI, 0);
}
