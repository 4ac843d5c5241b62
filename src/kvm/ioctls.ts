/**
 * KVM ioctl request numbers (Linux include/uapi/linux/kvm.h), computed with
 * the same _IOC encoding as asm-generic/ioctl.h so each one reads like the
 * header line it comes from. Verified against the host's header in
 * structs.test.ts.
 */

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const KVMIO = 0xae;

function ioc(dir: number, nr: number, size: number): number {
  // dir:2 | size:14 | type:8 | nr:8 — kept unsigned.
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
const io = (nr: number) => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number) => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number) => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, nr, size);

// System ioctls (on /dev/kvm).
export const KVM_GET_API_VERSION = io(0x00);
export const KVM_CREATE_VM = io(0x01);
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4); // struct kvm_msr_list
export const KVM_CHECK_EXTENSION = io(0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8); // struct kvm_cpuid2

// VM ioctls.
export const KVM_CREATE_VCPU = io(0x41);
export const KVM_GET_DIRTY_LOG = iow(0x42, 16); // struct kvm_dirty_log
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, 32);
export const KVM_SET_TSS_ADDR = io(0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
export const KVM_CREATE_IRQCHIP = io(0x60);
export const KVM_IRQ_LINE = iow(0x61, 8);
export const KVM_GET_IRQCHIP = iowr(0x62, 520);
export const KVM_SET_IRQCHIP = ior(0x63, 520);
export const KVM_SET_GSI_ROUTING = iow(0x6a, 8);
export const KVM_IRQFD = iow(0x76, 32);
export const KVM_CREATE_PIT2 = iow(0x77, 64);
export const KVM_IOEVENTFD = iow(0x79, 64);
export const KVM_SET_CLOCK = iow(0x7b, 48);
export const KVM_GET_CLOCK = ior(0x7c, 48);
export const KVM_GET_PIT2 = ior(0x9f, 112);
export const KVM_SET_PIT2 = iow(0xa0, 112);
export const KVM_SIGNAL_MSI = iow(0xa5, 32);
export const KVM_ENABLE_CAP = iow(0xa3, 104);

// vCPU ioctls.
export const KVM_RUN = io(0x80);
export const KVM_GET_REGS = ior(0x81, 144);
export const KVM_SET_REGS = iow(0x82, 144);
export const KVM_GET_SREGS = ior(0x83, 312);
export const KVM_SET_SREGS = iow(0x84, 312);
export const KVM_GET_MSRS = iowr(0x88, 8);
export const KVM_SET_MSRS = iow(0x89, 8);
export const KVM_GET_FPU = ior(0x8c, 416);
export const KVM_SET_FPU = iow(0x8d, 416);
export const KVM_GET_LAPIC = ior(0x8e, 1024);
export const KVM_SET_LAPIC = iow(0x8f, 1024);
export const KVM_SET_CPUID2 = iow(0x90, 8);
export const KVM_GET_MP_STATE = ior(0x98, 4);
export const KVM_SET_MP_STATE = iow(0x99, 4);
export const KVM_GET_VCPU_EVENTS = ior(0x9f, 64);
export const KVM_SET_VCPU_EVENTS = iow(0xa0, 64);
export const KVM_GET_DEBUGREGS = ior(0xa1, 128);
export const KVM_SET_DEBUGREGS = iow(0xa2, 128);
export const KVM_GET_XSAVE = ior(0xa4, 4096);
export const KVM_SET_XSAVE = iow(0xa5, 4096);
export const KVM_GET_XCRS = ior(0xa6, 392);
export const KVM_SET_XCRS = iow(0xa7, 392);
export const KVM_KVMCLOCK_CTRL = io(0xad);
export const KVM_GET_TSC_KHZ = io(0xa3);

// Capabilities (KVM_CHECK_EXTENSION arguments).
export const KVM_CAP = {
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  MP_STATE: 14,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  PIT2: 33,
  PIT_STATE2: 35,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  DEBUGREGS: 50,
  XSAVE: 55,
  XCRS: 56,
  TSC_CONTROL: 60,
  GET_TSC_KHZ: 61,
  MAX_VCPUS: 66,
  KVMCLOCK_CTRL: 76,
  SIGNAL_MSI: 77,
  READONLY_MEM: 81,
  IMMEDIATE_EXIT: 136,
  IRQCHIP: 0,
} as const;

/** The capabilities typevisor cannot run without (checked at VM creation and by `typevisor host`). */
export const REQUIRED_CAPS = [
  'IRQCHIP',
  'USER_MEMORY',
  'SET_TSS_ADDR',
  'EXT_CPUID',
  'IRQ_ROUTING',
  'IRQFD',
  'PIT2',
  'IOEVENTFD',
  'SIGNAL_MSI',
  'IMMEDIATE_EXIT',
] as const satisfies ReadonlyArray<keyof typeof KVM_CAP>;

/** kvm_run.exit_reason values. */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
export const KVM_SYSTEM_EVENT_RESET = 2;
export const KVM_SYSTEM_EVENT_CRASH = 3;

export const KVM_MEM_LOG_DIRTY_PAGES = 1;
export const KVM_MEM_READONLY = 2;
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
export const KVM_IOEVENTFD_FLAG_PIO = 2;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
export const KVM_IRQFD_FLAG_DEASSIGN = 1;
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
export const KVM_IRQ_ROUTING_MSI = 2;
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;
export const KVM_PIT_SPEAKER_DUMMY = 1;
export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_MP_STATE_UNINITIALIZED = 1;
export const KVM_API_VERSION = 12;

export function exitReasonName(reason: number): string {
  for (const [name, value] of Object.entries(KVM_EXIT)) if (value === reason) return name;
  return `exit ${reason}`;
}
