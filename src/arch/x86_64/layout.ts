/**
 * The guest-physical and port layout of a typevisor x86_64 machine.
 *
 * Every magic address used by the loaders, ACPI tables and devices is named
 * here, once. Sources: Linux boot protocol (Documentation/arch/x86/boot.rst),
 * ACPI 6.5, the PC/AT legacy port map, and the choices Firecracker and Cloud
 * Hypervisor made for the same job.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const PAGE_SIZE = 4096;
/** A 2 MiB page: a page-directory leaf (PS=1), a transparent huge page, a large NPT/EPT mapping. */
export const LARGE_PAGE_SIZE = 2 * MiB;

// ---- Low memory (below 1 MiB) ------------------------------------------------

/** GDT used for the 64-bit (and PVH 32-bit) entry: null, code64, data, tss descriptors. */
export const BOOT_GDT_START = 0x500;
/** An empty IDT right after the GDT: the kernel installs its own before enabling interrupts. */
export const BOOT_IDT_START = 0x520;
/** The test guest (test/guest) copies its real-mode AP start-up trampoline here (SIPI vector 0x03): keep it free. */
export const TEST_GUEST_AP_TRAMPOLINE_START = 0x3000;
/** PVH start_info (struct hvm_start_info) and its memory map. */
export const PVH_START_INFO_START = 0x6000;
export const PVH_MEMMAP_START = 0x6040;
/** Room for this many hvm_memmap_table_entry records (24 bytes each) before the module list. */
export const PVH_MEMMAP_MAX_ENTRIES = 128;
/** PVH module list (struct hvm_modlist_entry, 32 bytes each): the initrd, right after the memory map. */
export const PVH_MODLIST_START = PVH_MEMMAP_START + PVH_MEMMAP_MAX_ENTRIES * 24;
/** Linux zero page (struct boot_params), passed in RSI to the 64-bit entry point. */
export const ZERO_PAGE_START = 0x7000;
/** Identity-mapping page tables: PML4, one PDPT, four PDs (2 MiB pages covering 0..4 GiB). */
export const PML4_START = 0x9000;
export const PDPTE_START = 0xa000;
export const PDE_START = 0xb000;
export const PDE_COUNT = 4;
/** Initial stack pointer for the boot CPU (grows down, below the page tables' neighbours). */
export const BOOT_STACK_POINTER = 0x8ff0;
/** Kernel command line (up to CMDLINE_MAX_SIZE bytes including the NUL). */
export const CMDLINE_START = 0x20000;
export const CMDLINE_MAX_SIZE = 0x10000;
/** Start of the Extended BIOS Data Area: RAM below it is usable, above it reserved up to 1 MiB. */
export const EBDA_START = 0x9fc00;
/** MP floating pointer + config table (legacy SMP discovery), in the EBDA. */
export const MPTABLE_START = 0x9fc00;
/** ACPI RSDP in the BIOS read-only area Linux scans (0xE0000..0xFFFFF); the tables follow it. */
export const RSDP_START = 0xe0000;
export const ACPI_TABLES_START = 0xe0040;
export const ACPI_TABLES_END = 0x100000;

// ---- Kernel and RAM ---------------------------------------------------------

/** Where the protected-mode kernel (or an ELF without a higher request) is loaded. */
export const HIGH_RAM_START = 0x100000;
/** Minimum guest RAM the VMM accepts (the kernel, the zero page and an initramfs need room). */
export const MIN_GUEST_MEMORY = 16 * MiB;

// ---- The 32-bit hole and MMIO -----------------------------------------------

/** RAM above this goes above 4 GiB: [MMIO_HOLE_START, 4 GiB) is device space. */
export const MMIO_HOLE_START = 3 * GiB;
export const FOUR_GIB = 4 * GiB;
/** 32-bit PCI BAR window (allocated by the PCI BAR allocator). */
export const PCI_MMIO32_START = 0xc000_0000;
export const PCI_MMIO32_SIZE = 0x2000_0000; // 512 MiB
/** PCI Express enhanced configuration (ECAM/MMCONFIG), described by the ACPI MCFG table: bus 0 only. */
export const PCI_ECAM_START = 0xe000_0000;
export const PCI_ECAM_SIZE = 0x10_0000; // 1 MiB = 1 bus x 32 devices x 8 functions x 4 KiB
/** IOAPIC and local APIC MMIO (fixed on PC). */
export const IOAPIC_START = 0xfec0_0000;
export const IOAPIC_SIZE = 0x1000;
export const LAPIC_START = 0xfee0_0000;
/** IOAPIC id reported in the MADT (KVM's in-kernel IOAPIC resets to id 0, as QEMU's does). */
export const IOAPIC_ID = 0;
/** 64-bit PCI BAR window: 64 GiB above the 64 GiB mark (above any RAM we allow). */
export const PCI_MMIO64_START = 0x10_0000_0000;
export const PCI_MMIO64_SIZE = 0x10_0000_0000;
/** Largest guest RAM accepted: it must end below the 64-bit PCI window. */
export const MAX_GUEST_MEMORY = PCI_MMIO64_START - FOUR_GIB + MMIO_HOLE_START;

// ---- Legacy I/O ports -------------------------------------------------------

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const COM2_PORT = 0x2f8;
export const COM2_IRQ = 3;
export const UART_PORT_COUNT = 8;
/** i8042 keyboard controller: data 0x60, status/command 0x64 (only the reset line matters). */
export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
/** i8042 interrupt lines: keyboard port on ISA IRQ 1, auxiliary (mouse) port on ISA IRQ 12 (edge). */
export const I8042_KBD_IRQ = 1;
export const I8042_AUX_IRQ = 12;
/** CMOS RTC: index 0x70, data 0x71. */
export const RTC_PORT = 0x70;
export const RTC_IRQ = 8;
/** POST diagnostic port: writes are ignored (Linux uses it as an I/O delay). */
export const POST_PORT = 0x80;
/** PCI configuration mechanism #1: address 0xCF8, data 0xCFC..0xCFF. */
export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_CONFIG_DATA_PORT = 0xcfc;

/** ACPI fixed hardware (FADT): PM1a event block (status+enable), PM1a control, PM timer, reset register. */
export const ACPI_PM1A_EVT_BLK = 0x600;
export const ACPI_PM1_EVT_LEN = 4;
export const ACPI_PM1A_CNT_BLK = 0x604;
export const ACPI_PM1_CNT_LEN = 2;
export const ACPI_PM_TMR_BLK = 0x608;
export const ACPI_PM_TMR_LEN = 4;
export const ACPI_RESET_PORT = 0x60c;
export const ACPI_RESET_VALUE = 0x01;
/** SCI interrupt (FADT SCI_INT), level-triggered active-low by ACPI convention (MADT override). */
export const ACPI_SCI_IRQ = 9;
/** \_S5 sleep type written to PM1_CNT.SLP_TYP to power off (our DSDT declares it). */
export const ACPI_S5_SLP_TYP = 5;

// ---- Interrupts -------------------------------------------------------------

/** IOAPIC pins: 24, GSIs 0..23. MSI routes get GSIs from here up. */
export const IOAPIC_PINS = 24;
export const FIRST_MSI_GSI = 24;

// ---- vCPUs ------------------------------------------------------------------

export const MAX_VCPUS = 32;
