/**
 * Model-specific registers: the values the boot CPU starts with, and the
 * list worth saving in a snapshot.
 *
 * Boot values follow Firecracker's and Cloud Hypervisor's choices: the
 * SYSCALL/SYSENTER MSRs cleared (the kernel programs them), fast strings on,
 * and MTRRs enabled with write-back as the default memory type so the guest
 * does not run uncached (SDM vol. 3 §11.11.2.1 IA32_MTRR_DEF_TYPE).
 */

export const Msr = {
  IA32_TSC: 0x10,
  IA32_PLATFORM_ID: 0x17,
  IA32_APIC_BASE: 0x1b,
  IA32_FEATURE_CONTROL: 0x3a,
  IA32_TSC_ADJUST: 0x3b,
  IA32_SPEC_CTRL: 0x48,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MCG_STATUS: 0x17a,
  IA32_MCG_CTL: 0x17b,
  IA32_MISC_ENABLE: 0x1a0,
  IA32_DEBUGCTL: 0x1d9,
  IA32_MTRR_PHYSBASE0: 0x200,
  IA32_MTRR_FIX64K_00000: 0x250,
  IA32_MTRR_FIX16K_80000: 0x258,
  IA32_MTRR_FIX16K_A0000: 0x259,
  IA32_MTRR_FIX4K_C0000: 0x268,
  IA32_PAT: 0x277,
  IA32_MTRR_DEF_TYPE: 0x2ff,
  IA32_TSC_DEADLINE: 0x6e0,
  IA32_XSS: 0xda0,
  STAR: 0xc000_0081,
  LSTAR: 0xc000_0082,
  CSTAR: 0xc000_0083,
  SYSCALL_MASK: 0xc000_0084,
  FS_BASE: 0xc000_0100,
  GS_BASE: 0xc000_0101,
  KERNEL_GS_BASE: 0xc000_0102,
  TSC_AUX: 0xc000_0103,
  // KVM paravirtual MSRs (Documentation/virt/kvm/x86/msr.rst).
  KVM_WALL_CLOCK: 0x11,
  KVM_SYSTEM_TIME: 0x12,
  KVM_WALL_CLOCK_NEW: 0x4b56_4d00,
  KVM_SYSTEM_TIME_NEW: 0x4b56_4d01,
  KVM_ASYNC_PF_EN: 0x4b56_4d02,
  KVM_STEAL_TIME: 0x4b56_4d03,
  KVM_PV_EOI_EN: 0x4b56_4d04,
  KVM_POLL_CONTROL: 0x4b56_4d05,
  KVM_ASYNC_PF_INT: 0x4b56_4d06,
} as const;

/** IA32_MISC_ENABLE bit 0: fast-strings enable (SDM vol. 4 table 2-2). */
export const MISC_ENABLE_FAST_STRING = 1n << 0n;
/** IA32_MTRR_DEF_TYPE: E (bit 11) enables MTRRs; type 6 is write-back. */
export const MTRR_ENABLE = 1n << 11n;
export const MTRR_MEM_TYPE_WB = 6n;

export interface MsrValue {
  index: number;
  value: bigint;
}

/** The MSR values a Linux kernel expects at its entry point, to be set with KVM_SET_MSRS on every vCPU. */
export function bootMsrs(): MsrValue[] {
  return [
    { index: Msr.IA32_SYSENTER_CS, value: 0n },
    { index: Msr.IA32_SYSENTER_ESP, value: 0n },
    { index: Msr.IA32_SYSENTER_EIP, value: 0n },
    { index: Msr.STAR, value: 0n },
    { index: Msr.CSTAR, value: 0n },
    { index: Msr.KERNEL_GS_BASE, value: 0n },
    { index: Msr.SYSCALL_MASK, value: 0n },
    { index: Msr.LSTAR, value: 0n },
    { index: Msr.IA32_TSC, value: 0n },
    { index: Msr.IA32_MISC_ENABLE, value: MISC_ENABLE_FAST_STRING },
    { index: Msr.IA32_MTRR_DEF_TYPE, value: MTRR_ENABLE | MTRR_MEM_TYPE_WB },
  ];
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/**
 * MSRs whose values a snapshot must carry (Firecracker's and QEMU's lists),
 * intersected by the VMM with KVM_GET_MSR_INDEX_LIST before use. Registers
 * already in kvm_sregs (EFER, APIC base, FS/GS base) are not repeated; IA32_TSC_DEADLINE
 * comes after IA32_TSC so a restore re-arms the deadline against the restored
 * clock.
 */
export const SNAPSHOT_MSR_CANDIDATES: readonly number[] = [
  Msr.IA32_TSC,
  Msr.IA32_TSC_ADJUST,
  Msr.IA32_SPEC_CTRL,
  Msr.IA32_SYSENTER_CS,
  Msr.IA32_SYSENTER_ESP,
  Msr.IA32_SYSENTER_EIP,
  Msr.IA32_MCG_STATUS,
  Msr.IA32_MCG_CTL,
  Msr.IA32_MISC_ENABLE,
  Msr.IA32_DEBUGCTL,
  ...range(Msr.IA32_MTRR_PHYSBASE0, 16), // 8 variable-range MTRR base/mask pairs
  Msr.IA32_MTRR_FIX64K_00000,
  Msr.IA32_MTRR_FIX16K_80000,
  Msr.IA32_MTRR_FIX16K_A0000,
  ...range(Msr.IA32_MTRR_FIX4K_C0000, 8),
  Msr.IA32_PAT,
  Msr.IA32_MTRR_DEF_TYPE,
  Msr.IA32_XSS,
  Msr.STAR,
  Msr.LSTAR,
  Msr.CSTAR,
  Msr.SYSCALL_MASK,
  Msr.KERNEL_GS_BASE,
  Msr.TSC_AUX,
  Msr.KVM_WALL_CLOCK,
  Msr.KVM_SYSTEM_TIME,
  Msr.KVM_WALL_CLOCK_NEW,
  Msr.KVM_SYSTEM_TIME_NEW,
  Msr.KVM_ASYNC_PF_EN,
  Msr.KVM_STEAL_TIME,
  Msr.KVM_PV_EOI_EN,
  Msr.KVM_POLL_CONTROL,
  Msr.KVM_ASYNC_PF_INT,
  Msr.IA32_TSC_DEADLINE,
];
