/**
 * Byte layouts of the KVM API structs typevisor uses (x86_64,
 * include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h).
 * structs.test.ts checks each size and offset against the host's headers.
 */
import { StructLayout, i32, u16, u32, u64, u8 } from './struct-layout.js';

export const kvmUserspaceMemoryRegion = new StructLayout('kvm_userspace_memory_region', 32, {
  slot: u32(0),
  flags: u32(4),
  guest_phys_addr: u64(8),
  memory_size: u64(16),
  userspace_addr: u64(24),
});

export const kvmRegs = new StructLayout('kvm_regs', 144, {
  rax: u64(0), rbx: u64(8), rcx: u64(16), rdx: u64(24), rsi: u64(32), rdi: u64(40), rsp: u64(48), rbp: u64(56),
  r8: u64(64), r9: u64(72), r10: u64(80), r11: u64(88), r12: u64(96), r13: u64(104), r14: u64(112), r15: u64(120),
  rip: u64(128), rflags: u64(136),
});

/** struct kvm_segment (24 bytes); embedded in kvm_sregs. */
export const kvmSegment = new StructLayout('kvm_segment', 24, {
  base: u64(0),
  limit: u32(8),
  selector: u16(12),
  type: u8(14),
  present: u8(15),
  dpl: u8(16),
  db: u8(17),
  s: u8(18),
  l: u8(19),
  g: u8(20),
  avl: u8(21),
  unusable: u8(22),
});

/** struct kvm_dtable (16 bytes): GDT/IDT base and limit. */
export const kvmDtable = new StructLayout('kvm_dtable', 16, { base: u64(0), limit: u16(8) });

/** struct kvm_sregs: 8 segments, gdt, idt, control registers, efer, apic_base, interrupt bitmap. */
export const KVM_SREGS_SIZE = 312;
export const SREGS_SEGMENT_OFFSETS = { cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168 } as const;
export const SREGS_GDT_OFFSET = 192;
export const SREGS_IDT_OFFSET = 208;
export const kvmSregsScalars = new StructLayout('kvm_sregs', KVM_SREGS_SIZE, {
  cr0: u64(224),
  cr2: u64(232),
  cr3: u64(240),
  cr4: u64(248),
  cr8: u64(256),
  efer: u64(264),
  apic_base: u64(272),
});

/** struct kvm_run: the fixed header and the union members typevisor reads (union at offset 32). */
export const kvmRun = new StructLayout('kvm_run', 304, {
  request_interrupt_window: u8(0),
  immediate_exit: u8(1),
  exit_reason: u32(8),
  ready_for_interrupt_injection: u8(12),
  if_flag: u8(13),
  flags: u16(14),
  cr8: u64(16),
  apic_base: u64(24),
  // union: io
  io_direction: u8(32),
  io_size: u8(33),
  io_port: u16(34),
  io_count: u32(36),
  io_data_offset: u64(40),
  // union: mmio
  mmio_phys_addr: u64(32),
  mmio_len: u32(48),
  mmio_is_write: u8(52),
  // union: fail_entry
  fail_entry_reason: u64(32),
  fail_entry_cpu: u32(40),
  // union: internal
  internal_suberror: u32(32),
  internal_ndata: u32(36),
  // union: system_event
  system_event_type: u32(32),
  system_event_ndata: u32(36),
});
/** kvm_run.mmio.data[8] lives at this offset. */
export const KVM_RUN_MMIO_DATA_OFFSET = 40;
/** kvm_run.internal.data[] / system_event.data[] (u64 each) start here. */
export const KVM_RUN_EVENT_DATA_OFFSET = 40;

export const kvmIrqLevel = new StructLayout('kvm_irq_level', 8, { irq: u32(0), level: u32(4) });

export const kvmPitConfig = new StructLayout('kvm_pit_config', 64, { flags: u32(0) });

export const kvmIrqfd = new StructLayout('kvm_irqfd', 32, {
  fd: u32(0),
  gsi: u32(4),
  flags: u32(8),
  resamplefd: u32(12),
});

export const kvmIoeventfd = new StructLayout('kvm_ioeventfd', 64, {
  datamatch: u64(0),
  addr: u64(8),
  len: u32(16),
  fd: i32(20),
  flags: u32(24),
});

/** struct kvm_irq_routing header (8 bytes) followed by `nr` entries of 32+16 bytes. */
export const kvmIrqRoutingHeader = new StructLayout('kvm_irq_routing', 8, { nr: u32(0), flags: u32(4) });
export const kvmIrqRoutingEntry = new StructLayout('kvm_irq_routing_entry', 48, {
  gsi: u32(0),
  type: u32(4),
  flags: u32(8),
  // union u at 16: irqchip {irqchip, pin} or msi {address_lo, address_hi, data, devid}
  irqchip: u32(16),
  pin: u32(20),
  address_lo: u32(16),
  address_hi: u32(20),
  data: u32(24),
  devid: u32(28),
});

export const kvmMsi = new StructLayout('kvm_msi', 32, {
  address_lo: u32(0),
  address_hi: u32(4),
  data: u32(8),
  flags: u32(12),
  devid: u32(16),
});

/** struct kvm_msrs header (8 bytes) followed by `nmsrs` struct kvm_msr_entry (16 bytes). */
export const kvmMsrsHeader = new StructLayout('kvm_msrs', 8, { nmsrs: u32(0) });
export const kvmMsrEntry = new StructLayout('kvm_msr_entry', 16, { index: u32(0), data: u64(8) });

/** struct kvm_cpuid2 header (8 bytes) followed by `nent` struct kvm_cpuid_entry2 (40 bytes). */
export const kvmCpuid2Header = new StructLayout('kvm_cpuid2', 8, { nent: u32(0) });
export const kvmCpuidEntry2 = new StructLayout('kvm_cpuid_entry2', 40, {
  function: u32(0),
  index: u32(4),
  flags: u32(8),
  eax: u32(12),
  ebx: u32(16),
  ecx: u32(20),
  edx: u32(24),
});

export const kvmClockData = new StructLayout('kvm_clock_data', 48, {
  clock: u64(0),
  flags: u32(8),
  realtime: u64(16),
  host_tsc: u64(24),
});

export const kvmMpState = new StructLayout('kvm_mp_state', 4, { mp_state: u32(0) });

/** Opaque blobs saved and restored as-is (snapshot): sizes from the x86 uapi header. */
export const KVM_FPU_SIZE = 416;
export const KVM_LAPIC_SIZE = 1024;
export const KVM_XSAVE_SIZE = 4096;
export const KVM_XCRS_SIZE = 392;
export const KVM_VCPU_EVENTS_SIZE = 64;
export const KVM_DEBUGREGS_SIZE = 128;
export const KVM_IRQCHIP_SIZE = 520;
export const KVM_PIT_STATE2_SIZE = 112;
