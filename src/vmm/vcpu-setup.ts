/**
 * Puts a vCPU into its boot state: CPUID, MSRs, LAPIC LINT pins, and for the
 * boot CPU the registers the loader chose (BootCpuState -> kvm_regs/kvm_sregs).
 * Application processors stay in KVM's wait-for-SIPI state; the guest starts
 * them through its LAPIC (INIT-SIPI-SIPI), as on real hardware.
 */
import type { Vcpu } from '../kvm/vcpu.js';
import type { CpuidEntry } from '../kvm/kvm.js';
import { kvmDtable, kvmSegment, kvmSregsScalars, SREGS_GDT_OFFSET, SREGS_IDT_OFFSET, SREGS_SEGMENT_OFFSETS } from '../kvm/structs.js';
import type { BootCpuState, SegmentState } from '../arch/x86_64/cpu-state.js';
import { BOOT_FPU_STATE } from '../arch/x86_64/cpu-state.js';
import { configureBootLapicLint } from '../arch/x86_64/lapic.js';

function writeSegment(sregs: Uint8Array, offset: number, s: SegmentState): void {
  kvmSegment.write(
    sregs,
    {
      base: BigInt(s.base),
      limit: s.limit >>> 0,
      selector: s.selector,
      type: s.type,
      present: s.present,
      dpl: s.dpl,
      db: s.db,
      s: s.s,
      l: s.l,
      g: s.g,
      avl: s.avl,
      unusable: s.unusable,
    },
    offset,
  );
}

export function applyBootCpuState(vcpu: Vcpu, state: BootCpuState): void {
  const sregs = vcpu.getSregsRaw(); // keeps KVM's apic_base and reset values we do not set
  for (const name of Object.keys(SREGS_SEGMENT_OFFSETS) as Array<keyof typeof SREGS_SEGMENT_OFFSETS>) {
    writeSegment(sregs, SREGS_SEGMENT_OFFSETS[name], state[name]);
  }
  kvmDtable.write(sregs, { base: BigInt(state.gdt.base), limit: state.gdt.limit }, SREGS_GDT_OFFSET);
  kvmDtable.write(sregs, { base: BigInt(state.idt.base), limit: state.idt.limit }, SREGS_IDT_OFFSET);
  kvmSregsScalars.write(sregs, {
    cr0: BigInt(state.cr0),
    cr3: BigInt(state.cr3),
    cr4: BigInt(state.cr4),
    efer: BigInt(state.efer),
  });
  vcpu.setSregsRaw(sregs);
  vcpu.setRegs({
    rip: BigInt(state.rip),
    rsp: BigInt(state.rsp),
    rbp: BigInt(state.rbp),
    rsi: BigInt(state.rsi),
    rbx: BigInt(state.rbx),
    rflags: BigInt(state.rflags),
  });
  // kvm_fpu: fcw at 128, mxcsr at 408 (arch/x86/include/uapi/asm/kvm.h).
  const fpu = vcpu.getBlob('fpu');
  const view = new DataView(fpu.buffer, fpu.byteOffset, fpu.byteLength);
  view.setUint16(128, BOOT_FPU_STATE.fcw, true);
  view.setUint32(408, BOOT_FPU_STATE.mxcsr, true);
  vcpu.setBlob('fpu', fpu);
}

export function configureVcpu(
  vcpu: Vcpu,
  cpuid: readonly CpuidEntry[],
  msrs: ReadonlyArray<{ index: number; value: bigint }>,
): void {
  vcpu.setCpuid(cpuid);
  const set = vcpu.setMsrs(msrs);
  if (set < msrs.length) {
    const refused = msrs[set]!;
    throw new Error(`KVM refused MSR 0x${refused.index.toString(16)} (set ${set} of ${msrs.length})`);
  }
  const lapic = vcpu.getBlob('lapic');
  configureBootLapicLint(lapic);
  vcpu.setBlob('lapic', lapic);
}
