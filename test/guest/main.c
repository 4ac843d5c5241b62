/* typevisor test guest: reports what the VMM gave it (command line, memory map, ACPI, CPUs) over COM1, then
 * runs the test named by tvg.test= on the command line. Every line starts with "TVG: ". */
#include "tvg.h"

/* struct boot_params offsets (Linux Documentation/arch/x86/zero-page.rst) */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20 /* packed: u64 addr, u64 size, u32 type */
#define BP_E820_MAX 128

/* struct hvm_start_info offsets (xen/include/public/arch-x86/hvm/start_info.h) */
#define PVH_MAGIC_VALUE 0x336ec578u
#define PVH_MAGIC 0
#define PVH_VERSION 4
#define PVH_CMDLINE_PADDR 24
#define PVH_RSDP_PADDR 32
#define PVH_MEMMAP_PADDR 40
#define PVH_MEMMAP_ENTRIES 48
#define PVH_MEMMAP_ENTRY_SIZE 24 /* u64 addr, u64 size, u32 type, u32 reserved */

#define E820_RAM 1
#define CMDLINE_MAX 4096
#define BOOT_KIND_LINUX 0
#define BOOT_KIND_PVH 1

#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_EN (1u << 13)
#define COUNT_PERIOD_US 100000
#define ACTION_GRACE_US 200000
#define ECHO_POLL_US 1000

/* 64-bit IDT gate (SDM vol. 3 §6.14.1) */
struct idt_gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));
#define IDT_VECTORS 256 /* exceptions 0..31 get stubs now; interrupts.c adds its vectors later */
#define EXCEPTION_VECTORS 32
#define IDT_INTERRUPT_GATE 0x8e
#define EXCEPTION_STUB_SIZE 16
#define KERNEL_CODE_SELECTOR 0x08
/* Vectors that push an error code (SDM vol. 3 Table 6-1). */
#define ERROR_CODE_VECTORS ((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 17) | (1u << 21) | (1u << 29) | (1u << 30))

extern const uint8_t tvg_exception_stubs[];
static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

static uint64_t cmdline_addr;
static struct memory_range memmap[BP_E820_MAX];
static uint32_t memmap_count;
static uint64_t rsdp_hint;
static struct acpi_info acpi;

void idt_set_gate(uint8_t vector, uint64_t handler) {
  idt[vector] = (struct idt_gate){
      .offset_low = (uint16_t)handler,
      .selector = KERNEL_CODE_SELECTOR,
      .type_attr = IDT_INTERRUPT_GATE,
      .offset_mid = (uint16_t)(handler >> 16),
      .offset_high = (uint32_t)(handler >> 32),
  };
}

static void install_idt(void) {
  for (int v = 0; v < EXCEPTION_VECTORS; v++)
    idt_set_gate((uint8_t)v, (uint64_t)(uintptr_t)tvg_exception_stubs + (uint64_t)v * EXCEPTION_STUB_SIZE);
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } idtr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* Called by the exception stubs; the caller halts afterwards. */
void tvg_exception(uint64_t vector, const uint64_t *frame) {
  bool has_error = vector < 32 && (ERROR_CODE_VECTORS >> vector) & 1;
  line_begin("exception ");
  put_dec(vector);
  put_str(" rip ");
  put_hex(frame[has_error ? 1 : 0]);
  put_str(" error ");
  put_hex(has_error ? frame[0] : 0);
  line_end();
}

static void read_linux_boot_params(uint64_t bp) {
  cmdline_addr = peek32(bp + BP_CMD_LINE_PTR) | ((uint64_t)peek32(bp + BP_EXT_CMD_LINE_PTR) << 32);
  rsdp_hint = peek64(bp + BP_ACPI_RSDP_ADDR);
  memmap_count = peek8(bp + BP_E820_ENTRIES);
  if (memmap_count > BP_E820_MAX) memmap_count = BP_E820_MAX;
  for (uint32_t i = 0; i < memmap_count; i++) {
    uint64_t e = bp + BP_E820_TABLE + (uint64_t)i * BP_E820_ENTRY_SIZE;
    memmap[i] = (struct memory_range){peek64(e), peek64(e + 8), peek32(e + 16)};
  }
}

static bool read_pvh_start_info(uint64_t si) {
  if (peek32(si + PVH_MAGIC) != PVH_MAGIC_VALUE) return false;
  cmdline_addr = peek64(si + PVH_CMDLINE_PADDR);
  rsdp_hint = peek64(si + PVH_RSDP_PADDR);
  memmap_count = 0;
  if (peek32(si + PVH_VERSION) >= 1) { /* the memory map fields exist from version 1 */
    uint64_t map = peek64(si + PVH_MEMMAP_PADDR);
    uint32_t n = peek32(si + PVH_MEMMAP_ENTRIES);
    memmap_count = n > BP_E820_MAX ? BP_E820_MAX : n;
    for (uint32_t i = 0; i < memmap_count; i++) {
      uint64_t e = map + (uint64_t)i * PVH_MEMMAP_ENTRY_SIZE;
      memmap[i] = (struct memory_range){peek64(e), peek64(e + 8), peek32(e + 16)};
    }
  }
  return true;
}

/* Copies the value of the first "key=value" word into out (NUL-terminated); false if absent. */
static bool cmdline_option(const char *key, char *out, size_t out_size) {
  if (!cmdline_addr) return false;
  const char *s = (const char *)(uintptr_t)cmdline_addr;
  size_t key_len = 0;
  while (key[key_len]) key_len++;
  for (size_t i = 0; i < CMDLINE_MAX && s[i];) {
    while (i < CMDLINE_MAX && s[i] == ' ') i++;
    size_t start = i;
    while (i < CMDLINE_MAX && s[i] && s[i] != ' ') i++;
    if (i - start > key_len && memcmp(s + start, key, key_len) == 0 && s[start + key_len] == '=') {
      size_t n = 0;
      for (size_t j = start + key_len + 1; j < i && n + 1 < out_size; j++) out[n++] = s[j];
      out[n] = 0;
      return true;
    }
  }
  return false;
}

static bool str_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static void report_boot_info(uint32_t kind) {
  line_begin(kind == BOOT_KIND_PVH ? "entry pvh" : "entry linux64");
  line_end();
  line_begin("cmdline ");
  if (cmdline_addr) {
    const char *s = (const char *)(uintptr_t)cmdline_addr;
    for (size_t i = 0; i < CMDLINE_MAX && s[i]; i++) put_char(s[i]);
  }
  line_end();
  uint64_t usable = 0;
  for (uint32_t i = 0; i < memmap_count; i++) {
    line_begin("e820 ");
    put_hex_bare(memmap[i].addr);
    put_char(' ');
    put_hex_bare(memmap[i].size);
    put_char(' ');
    put_dec(memmap[i].type);
    line_end();
    if (memmap[i].type == E820_RAM) usable += memmap[i].size;
  }
  line_begin("ram-mib ");
  put_dec(usable >> 20);
  line_end();
}

static void report_acpi(void) {
  if (!acpi.found) {
    line_begin("acpi none");
    line_end();
    return;
  }
  line_begin("acpi rsdp ");
  put_hex(acpi.rsdp);
  put_str(" madt-cpus ");
  put_dec(acpi.cpu_count);
  put_str(" pm1a-cnt ");
  put_hex(acpi.pm1a_cnt_port);
  put_str(" pm-tmr ");
  put_hex(acpi.pm_timer_port);
  put_str(acpi.s5_from_dsdt ? " s5 " : " s5-default ");
  put_dec(acpi.s5_sleep_type);
  line_end();
}

static void report_failure(const char *what) {
  line_begin("error ");
  put_str(what);
  line_end();
}

static void test_poweroff(void) {
  if (!acpi.pm1a_cnt_port) return report_failure("no PM1a_CNT port in the FADT");
  outw((uint16_t)acpi.pm1a_cnt_port, (uint16_t)((acpi.s5_sleep_type << PM1_SLP_TYP_SHIFT) | PM1_SLP_EN));
  delay_us(ACTION_GRACE_US);
  report_failure("poweroff had no effect");
}

static void test_acpi_reset(void) {
  if (acpi.reset_space == 0xff) return report_failure("no FADT reset register");
  if (acpi.reset_space == 1) outb((uint16_t)acpi.reset_address, acpi.reset_value);
  else *(volatile uint8_t *)(uintptr_t)acpi.reset_address = acpi.reset_value;
  delay_us(ACTION_GRACE_US);
  report_failure("acpi-reset had no effect");
}

static void test_keyboard_reset(void) {
  outb(I8042_COMMAND_PORT, I8042_PULSE_RESET);
  delay_us(ACTION_GRACE_US);
  report_failure("reset had no effect");
}

static void test_count(void) {
  uint64_t next = timer_now_us();
  for (uint64_t n = 0;; n++) {
    line_begin("count ");
    put_dec(n);
    line_end();
    next += COUNT_PERIOD_US;
    while (timer_now_us() < next) cpu_relax();
  }
}

static void test_echo(void) {
  line_begin("echo ready");
  line_end();
  for (;;) {
    uint8_t c;
    if (!serial_try_read(&c)) {
      delay_us(ECHO_POLL_US); /* each LSR poll is a VM exit: poll at 1 kHz, not flat out */
      continue;
    }
    line_begin("got ");
    if (c >= 0x21 && c < 0x7f) put_char((char)c);
    else put_hex(c);
    line_end();
    if (c == 'q') test_poweroff(); /* "q" quits, so a host test ends on the VMM's exit instead of a timeout */
  }
}

void tvg_main(uint64_t info, uint32_t kind) {
  serial_init();
  install_idt();
  line_begin("hello");
  line_end();
  bool ok = kind == BOOT_KIND_PVH ? read_pvh_start_info(info) : (read_linux_boot_params(info), true);
  if (!ok) report_failure("bad hvm_start_info magic");
  char option[32];
  if (kind == BOOT_KIND_PVH && cmdline_option("tvg.entry", option, sizeof option) && str_eq(option, "linux64")) {
    line_begin("reentering via the 64-bit boot_params entry");
    line_end();
    enter_linux64(cmdline_addr, memmap, memmap_count, rsdp_hint);
  }
  report_boot_info(kind);

  probe_cpuid();
  acpi_discover(rsdp_hint, &acpi);
  timer_init(acpi.pm_timer_port);
  report_acpi();
  line_begin(timer_calibrated() ? "tsc-khz " : "tsc-khz-guess ");
  put_dec(timer_tsc_khz());
  line_end();
  line_begin("cpus ");
  put_dec(acpi.found && acpi.cpu_count > 1 ? smp_start_aps(&acpi) : 1);
  line_end();
  probe_pci();

  char test[32];
  if (cmdline_option("tvg.test", test, sizeof test)) {
    line_begin("test ");
    put_str(test);
    line_end();
    if (str_eq(test, "poweroff")) test_poweroff();
    else if (str_eq(test, "reset")) test_keyboard_reset();
    else if (str_eq(test, "acpi-reset")) test_acpi_reset();
    else if (str_eq(test, "count")) test_count();
    else if (str_eq(test, "echo")) test_echo();
    else if (str_eq(test, "memtest")) test_memtest(memmap, memmap_count);
    else if (str_eq(test, "virtio")) {
      test_virtio(&acpi);
      test_poweroff(); /* the VMM exits, so the host can inspect the disk the guest wrote */
    }
    else if (str_eq(test, "ud2")) __asm__ volatile("ud2"); /* checks exception reporting: "exception 6" */
    else if (!str_eq(test, "halt")) report_failure("unknown tvg.test");
  }
  line_begin("done");
  line_end();
  /* returning halts the CPU with interrupts off (entry.S) */
}
