/* QEMU-only (tvg.entry=linux64 on the command line): after a PVH boot, re-enter the guest through its 64-bit
 * Linux-style entry in the machine state typevisor's VMM creates, so that path is exercised under TCG too.
 * The addresses are those of src/arch/x86_64/layout.ts: zero page at ZERO_PAGE_START, command line at
 * CMDLINE_START, identity page tables (2 MiB pages, 0..4 GiB) at PML4_START / PDPTE_START / PDE_START, stack at
 * BOOT_STACK_POINTER. They sit in usable low RAM of QEMU's e820 map, outside our image. */
#include "tvg.h"

#define ZERO_PAGE_START 0x7000
#define CMDLINE_START 0x20000
#define CMDLINE_MAX_COPY 4096
#define PML4_START 0x9000
#define PDPTE_START 0xa000
#define PDE_START 0xb000
#define PDE_COUNT 4
#define BOOT_STACK_POINTER 0x8ff0
#define PAGE_SIZE 4096
#define PTE_PRESENT_WRITE 0x3
#define PDE_LARGE_PAGE 0x80
#define TWO_MIB (2ull << 20)

/* struct boot_params (Linux Documentation/arch/x86/zero-page.rst) */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20
#define BP_E820_MAX 128

extern void tvg_start64(void);

static void poke32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static void poke64(uint64_t a, uint64_t v) { *(volatile uint64_t *)(uintptr_t)a = v; }

void enter_linux64(uint64_t cmdline, const struct memory_range *map, uint32_t count, uint64_t rsdp) {
  /* Copy the command line through a buffer: QEMU may have put it where we are about to write. */
  static char copy[CMDLINE_MAX_COPY];
  size_t n = 0;
  if (cmdline)
    for (const char *s = (const char *)(uintptr_t)cmdline; n + 1 < sizeof copy && s[n]; n++) copy[n] = s[n];
  copy[n] = 0;
  memcpy((void *)(uintptr_t)CMDLINE_START, copy, n + 1);

  memset((void *)(uintptr_t)ZERO_PAGE_START, 0, PAGE_SIZE);
  poke64(ZERO_PAGE_START + BP_ACPI_RSDP_ADDR, rsdp);
  poke32(ZERO_PAGE_START + BP_CMD_LINE_PTR, CMDLINE_START);
  if (count > BP_E820_MAX) count = BP_E820_MAX;
  *(volatile uint8_t *)(uintptr_t)(ZERO_PAGE_START + BP_E820_ENTRIES) = (uint8_t)count;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t e = ZERO_PAGE_START + BP_E820_TABLE + (uint64_t)i * BP_E820_ENTRY_SIZE;
    poke64(e, map[i].addr);
    poke64(e + 8, map[i].size);
    poke32(e + 16, map[i].type);
  }

  memset((void *)(uintptr_t)PML4_START, 0, PAGE_SIZE * (2 + PDE_COUNT));
  poke64(PML4_START, PDPTE_START | PTE_PRESENT_WRITE);
  for (uint64_t i = 0; i < PDE_COUNT; i++) poke64(PDPTE_START + i * 8, (PDE_START + i * PAGE_SIZE) | PTE_PRESENT_WRITE);
  for (uint64_t i = 0; i < PDE_COUNT * 512; i++) poke64(PDE_START + i * 8, i * TWO_MIB | PDE_LARGE_PAGE | PTE_PRESENT_WRITE);

  /* Switch to the new tables (they map what we are running on identically) and enter with RSI = zero page. */
  __asm__ volatile(
      "mov %0, %%cr3\n\t"
      "mov %1, %%rsp\n\t"
      "cli\n\t"
      "jmp *%3"
      :
      : "a"((uint64_t)PML4_START), "c"((uint64_t)BOOT_STACK_POINTER), "S"((uint64_t)ZERO_PAGE_START),
        "d"((uint64_t)(uintptr_t)tvg_start64)
      : "memory");
  __builtin_unreachable();
}
