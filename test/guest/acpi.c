/* ACPI discovery (ACPI 6.5 §5.2): RSDP -> XSDT or RSDT -> MADT (CPUs) and FADT (PM ports, reset register,
 * DSDT -> \_S5). Every table is checksummed and bounded before use: the VMM under test produced it. */
#include "tvg.h"

/* §5.2.5.3 RSDP */
#define RSDP_SIGNATURE "RSD PTR "
#define RSDP_V1_LENGTH 20
#define RSDP_REVISION 15
#define RSDP_RSDT_ADDRESS 16
#define RSDP_LENGTH 20
#define RSDP_XSDT_ADDRESS 24
#define BIOS_ROM_START 0xe0000
#define BIOS_ROM_END 0x100000
#define BDA_EBDA_SEGMENT 0x40e
#define EBDA_SCAN_LENGTH 1024

/* §5.2.6 system description table header */
#define SDT_SIGNATURE 0
#define SDT_LENGTH 4
#define SDT_HEADER_SIZE 36
/* Tables larger than this are treated as corrupt. */
#define SDT_MAX_LENGTH (1u << 20)

/* §5.2.12 MADT */
#define MADT_LAPIC_ADDRESS 36
#define MADT_ENTRIES 44
#define MADT_TYPE_LOCAL_APIC 0
#define MADT_LAPIC_APIC_ID 3
#define MADT_LAPIC_FLAGS 4
#define MADT_LAPIC_ENABLED 0x1

/* §5.2.9 FADT */
#define FADT_DSDT 40
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_RESET_REG 116 /* Generic Address Structure: space id, width, offset, access size, address */
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define GAS_SPACE_ID 0
#define GAS_ADDRESS 4
#define GAS_SPACE_MEMORY 0
#define GAS_SPACE_IO 1
#define DEFAULT_S5_SLP_TYP 5 /* typevisor's DSDT value (ACPI_S5_SLP_TYP in layout.ts) */

/* AML opcodes (§20.3) used to read Name(_S5, Package(){ SLP_TYPa, ... }) */
#define AML_PACKAGE_OP 0x12
#define AML_BYTE_PREFIX 0x0a
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01

static bool checksum_ok(uint64_t addr, uint32_t len) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < len; i++) sum += peek8(addr + i);
  return sum == 0;
}

static bool signature_is(uint64_t addr, const char *sig, size_t len) {
  return memcmp((const void *)(uintptr_t)addr, sig, len) == 0;
}

static uint64_t scan_rsdp(uint64_t start, uint64_t end) {
  for (uint64_t a = start; a + RSDP_V1_LENGTH <= end; a += 16)
    if (signature_is(a, RSDP_SIGNATURE, 8) && checksum_ok(a, RSDP_V1_LENGTH)) return a;
  return 0;
}

/* §5.2.5.1: the first KiB of the EBDA, then the BIOS ROM area 0xE0000..0xFFFFF. */
static uint64_t find_rsdp(uint64_t hint) {
  if (hint && signature_is(hint, RSDP_SIGNATURE, 8) && checksum_ok(hint, RSDP_V1_LENGTH)) return hint;
  uint64_t ebda = (uint64_t)peek16(BDA_EBDA_SEGMENT) << 4;
  if (ebda >= 0x80000 && ebda < 0xa0000) {
    uint64_t found = scan_rsdp(ebda, ebda + EBDA_SCAN_LENGTH);
    if (found) return found;
  }
  return scan_rsdp(BIOS_ROM_START, BIOS_ROM_END);
}

/* Returns the table's length if it is a well-formed table with a good checksum, else 0. */
static uint32_t valid_table(uint64_t addr) {
  if (addr == 0 || addr >= (1ull << 32)) return 0; /* we identity-map 4 GiB only */
  uint32_t len = peek32(addr + SDT_LENGTH);
  if (len < SDT_HEADER_SIZE || len > SDT_MAX_LENGTH || !checksum_ok(addr, len)) return 0;
  return len;
}

static void parse_madt(uint64_t madt, uint32_t len, struct acpi_info *out) {
  out->lapic_address = peek32(madt + MADT_LAPIC_ADDRESS);
  for (uint64_t e = madt + MADT_ENTRIES; e + 2 <= madt + len;) {
    uint8_t type = peek8(e), elen = peek8(e + 1);
    if (elen < 2 || e + elen > madt + len) break;
    if (type == MADT_TYPE_LOCAL_APIC && elen >= 8 && (peek32(e + MADT_LAPIC_FLAGS) & MADT_LAPIC_ENABLED)) {
      if (out->cpu_count < sizeof out->apic_ids) out->apic_ids[out->cpu_count] = peek8(e + MADT_LAPIC_APIC_ID);
      out->cpu_count++;
    }
    e += elen;
  }
}

/* Finds Name(_S5, Package(n){ SLP_TYPa ... }) in the DSDT's AML and returns SLP_TYPa, or -1. */
static int find_s5_sleep_type(uint64_t dsdt, uint32_t len) {
  for (uint64_t p = dsdt + SDT_HEADER_SIZE; p + 8 < dsdt + len; p++) {
    if (!signature_is(p, "_S5_", 4) || peek8(p + 4) != AML_PACKAGE_OP) continue;
    uint64_t q = p + 5;
    q += 1 + (peek8(q) >> 6); /* PkgLength: bits 6..7 of the lead byte = count of extra bytes (§20.2.4) */
    q += 1;                   /* NumElements */
    uint8_t op = peek8(q);
    if (op == AML_BYTE_PREFIX) return peek8(q + 1) & 7;
    if (op == AML_ZERO_OP) return 0;
    if (op == AML_ONE_OP) return 1;
    return -1;
  }
  return -1;
}

static void parse_fadt(uint64_t fadt, uint32_t len, struct acpi_info *out) {
  out->pm1a_cnt_port = peek32(fadt + FADT_PM1A_CNT_BLK);
  out->pm_timer_port = peek32(fadt + FADT_PM_TMR_BLK);
  if (!out->pm1a_cnt_port && len >= FADT_X_PM1A_CNT_BLK + 12 && peek8(fadt + FADT_X_PM1A_CNT_BLK) == GAS_SPACE_IO)
    out->pm1a_cnt_port = (uint32_t)peek64(fadt + FADT_X_PM1A_CNT_BLK + GAS_ADDRESS);
  if (!out->pm_timer_port && len >= FADT_X_PM_TMR_BLK + 12 && peek8(fadt + FADT_X_PM_TMR_BLK) == GAS_SPACE_IO)
    out->pm_timer_port = (uint32_t)peek64(fadt + FADT_X_PM_TMR_BLK + GAS_ADDRESS);
  if (len > FADT_RESET_VALUE) {
    out->reset_space = peek8(fadt + FADT_RESET_REG + GAS_SPACE_ID);
    out->reset_address = peek64(fadt + FADT_RESET_REG + GAS_ADDRESS);
    out->reset_value = peek8(fadt + FADT_RESET_VALUE);
    if (out->reset_address == 0 || (out->reset_space != GAS_SPACE_IO && out->reset_space != GAS_SPACE_MEMORY))
      out->reset_space = 0xff;
  }
  uint64_t dsdt = peek32(fadt + FADT_DSDT);
  if (len >= FADT_X_DSDT + 8 && peek64(fadt + FADT_X_DSDT)) dsdt = peek64(fadt + FADT_X_DSDT);
  uint32_t dsdt_len = valid_table(dsdt);
  int s5 = dsdt_len ? find_s5_sleep_type(dsdt, dsdt_len) : -1;
  out->s5_from_dsdt = s5 >= 0;
  out->s5_sleep_type = s5 >= 0 ? (uint8_t)s5 : DEFAULT_S5_SLP_TYP;
}

void acpi_discover(uint64_t rsdp_hint, struct acpi_info *out) {
  memset(out, 0, sizeof *out);
  out->reset_space = 0xff;
  out->s5_sleep_type = DEFAULT_S5_SLP_TYP;
  uint64_t rsdp = find_rsdp(rsdp_hint);
  if (!rsdp) return;
  out->rsdp = rsdp;
  /* Revision 2+ has the XSDT (64-bit entries); revision 0 (QEMU's SeaBIOS) only the RSDT (32-bit entries). */
  uint64_t root = 0;
  uint32_t entry_size = 4;
  if (peek8(rsdp + RSDP_REVISION) >= 2 && checksum_ok(rsdp, peek32(rsdp + RSDP_LENGTH) < 256 ? peek32(rsdp + RSDP_LENGTH) : 36)) {
    root = peek64(rsdp + RSDP_XSDT_ADDRESS);
    entry_size = 8;
  }
  if (!valid_table(root)) {
    root = peek32(rsdp + RSDP_RSDT_ADDRESS);
    entry_size = 4;
  }
  uint32_t root_len = valid_table(root);
  if (!root_len) return;
  out->found = true;
  for (uint64_t e = root + SDT_HEADER_SIZE; e + entry_size <= root + root_len; e += entry_size) {
    uint64_t table = entry_size == 8 ? peek64(e) : peek32(e);
    uint32_t len = valid_table(table);
    if (!len) continue;
    if (signature_is(table + SDT_SIGNATURE, "APIC", 4)) parse_madt(table, len, out);
    else if (signature_is(table + SDT_SIGNATURE, "FACP", 4)) parse_fadt(table, len, out);
  }
}
