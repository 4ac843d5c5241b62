/* Start the application processors listed in the MADT with INIT-SIPI-SIPI through the xAPIC (Intel SDM vol. 3
 * §8.4.4.1 "Typical BSP Initialization Sequence"; MP spec B.4). Each AP runs the real-mode trampoline from
 * entry.S, reaches long mode on the BSP's page tables and increments tvg_aps_online with lock xadd. */
#include "tvg.h"

#define AP_TRAMPOLINE_BASE 0x3000 /* must match entry.S; TEST_GUEST_AP_TRAMPOLINE_START in layout.ts */
#define DEFAULT_LAPIC_BASE 0xfee00000u

/* xAPIC registers (SDM vol. 3 Table 10-1) */
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define SVR_APIC_ENABLE 0x100
#define SVR_SPURIOUS_VECTOR 0xff
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_INIT_ASSERT 0x00004500u   /* delivery mode INIT, level assert */
#define ICR_STARTUP 0x00004600u       /* delivery mode start-up, vector = page number of the trampoline */
#define ICR_POLL_LIMIT 100000

#define INIT_TO_SIPI_US 10000
#define SIPI_TO_SIPI_US 200
#define AP_WAIT_TIMEOUT_US 1000000

extern const uint8_t tvg_ap_trampoline_start[], tvg_ap_trampoline_end[];
extern uint32_t tvg_ap_cr3;
extern volatile uint32_t tvg_aps_online;

static uint64_t lapic_base = DEFAULT_LAPIC_BASE;

static uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(uintptr_t)(lapic_base + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(lapic_base + reg) = v; }

static void send_ipi(uint8_t apic_id, uint32_t command) {
  lapic_write(LAPIC_ICR_HIGH, (uint32_t)apic_id << 24);
  lapic_write(LAPIC_ICR_LOW, command);
  for (int i = 0; i < ICR_POLL_LIMIT && (lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING); i++) cpu_relax();
}

static uint64_t read_cr3(void) {
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  return cr3;
}

/* Returns the number of CPUs online (the BSP plus the APs that checked in before the timeout). */
uint32_t smp_start_aps(const struct acpi_info *acpi) {
  if (acpi->lapic_address) lapic_base = acpi->lapic_address;
  lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | SVR_SPURIOUS_VECTOR);
  uint8_t self = (uint8_t)(lapic_read(LAPIC_ID) >> 24);
  uint32_t listed = acpi->cpu_count < sizeof acpi->apic_ids ? acpi->cpu_count : sizeof acpi->apic_ids;

  /* The trampoline must be below 1 MiB and page-aligned (the SIPI vector is its page number). */
  size_t size = (size_t)(tvg_ap_trampoline_end - tvg_ap_trampoline_start);
  memcpy((void *)(uintptr_t)AP_TRAMPOLINE_BASE, tvg_ap_trampoline_start, size);
  uint32_t *cr3_slot = (uint32_t *)(uintptr_t)(AP_TRAMPOLINE_BASE + ((uint8_t *)&tvg_ap_cr3 - tvg_ap_trampoline_start));
  *cr3_slot = (uint32_t)read_cr3();
  /* x86 keeps stores in order (TSO), so the CR3 store is visible before the ICR write; a compiler barrier is
   * enough (and mfence is not in every instruction emulator, e.g. KVM's). */
  __asm__ volatile("" ::: "memory");

  uint32_t aps = 0;
  for (uint32_t i = 0; i < listed; i++) {
    if (acpi->apic_ids[i] == self) continue;
    send_ipi(acpi->apic_ids[i], ICR_INIT_ASSERT);
    aps++;
  }
  if (aps == 0) return 1;
  delay_us(INIT_TO_SIPI_US);
  for (int round = 0; round < 2; round++) {
    for (uint32_t i = 0; i < listed; i++)
      if (acpi->apic_ids[i] != self) send_ipi(acpi->apic_ids[i], ICR_STARTUP | (AP_TRAMPOLINE_BASE >> 12));
    delay_us(SIPI_TO_SIPI_US);
  }
  uint64_t deadline = timer_now_us() + AP_WAIT_TIMEOUT_US;
  while (tvg_aps_online < aps && timer_now_us() < deadline) cpu_relax();
  return 1 + tvg_aps_online;
}
