/**
 * Saving and restoring one vCPU (issue 4): registers, special registers,
 * FPU/XSAVE/XCRs, MSRs, LAPIC, pending events, debug registers and MP state.
 *
 * Order matters to KVM (Firecracker's vCPU save/restore follows the same rules):
 * - save: MP state first, because KVM_GET_MP_STATE runs kvm_apic_accept_events(), which can change the LAPIC and
 *   the registers read after it; vcpu events last.
 * - restore: CPUID (done by the builder), MP state, regs, sregs, FPU/XSAVE, XCRs, debug registers, LAPIC, then the
 *   MSRs — after the LAPIC because KVM_SET_LAPIC re-programs the timer and drops a TSC deadline written before it
 *   (QEMU writes IA32_TSC_DEADLINE after the APIC for that reason) — and vcpu events last.
 * The caller must have completed any in-flight port I/O or MMIO exit first (KVM API doc, KVM_RUN: "the
 * corresponding operations are complete only after userspace has re-entered the kernel with KVM_RUN"); the vCPU
 * thread does that with immediate_exit before it parks.
 */
import type { Vcpu, VcpuBlob } from '../../kvm/vcpu.js';
import { kvmRegs } from '../../kvm/structs.js';
import { SNAPSHOT_MSR_CANDIDATES } from '../../arch/x86_64/msrs.js';

export interface VcpuStateV1 {
  version: 1;
  index: number;
  /** kvm_regs as base64 of its 144 bytes. */
  regs: string;
  sregs: string;
  blobs: Partial<Record<VcpuBlob, string>>;
  /** [index, value as decimal string] pairs. */
  msrs: Array<[number, string]>;
  mpState: number;
}

const BLOB_ORDER: VcpuBlob[] = ['xsave', 'xcrs', 'debugregs', 'lapic'];

/** The MSRs this KVM can save: the candidates it lists and accepts. */
export function savableMsrs(vcpu: Vcpu, kvmIndexList: readonly number[]): number[] {
  const listed = new Set(kvmIndexList);
  const out: number[] = [];
  for (const index of SNAPSHOT_MSR_CANDIDATES) {
    if (!listed.has(index)) continue;
    try {
      if (vcpu.getMsrs([index]).length === 1) out.push(index);
    } catch {
      // not readable on this host: skip
    }
  }
  return out;
}

export function saveVcpu(vcpu: Vcpu, msrIndices: readonly number[]): VcpuStateV1 {
  const mpState = vcpu.getMpState();
  const regs = Buffer.from(kvmRegs.encode(vcpu.getRegs())).toString('base64');
  const sregs = Buffer.from(vcpu.getSregsRaw()).toString('base64');
  const blobs: Partial<Record<VcpuBlob, string>> = {};
  for (const kind of ['fpu', ...BLOB_ORDER] as VcpuBlob[]) blobs[kind] = Buffer.from(vcpu.getBlob(kind)).toString('base64');
  const msrs = vcpu.getMsrs(msrIndices).map((m): [number, string] => [m.index, m.value.toString()]);
  blobs.vcpu_events = Buffer.from(vcpu.getBlob('vcpu_events')).toString('base64');
  return { version: 1, index: vcpu.index, regs, sregs, blobs, msrs, mpState };
}

function bytes(b64: string | undefined, what: string): Uint8Array {
  if (b64 === undefined) throw new Error(`snapshot vCPU state lacks ${what}`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

export function restoreVcpu(vcpu: Vcpu, s: VcpuStateV1): void {
  if (s.version !== 1) throw new Error(`vCPU state version ${String(s.version)} is not supported`);
  const msrs = s.msrs.map(([index, value]) => ({ index, value: BigInt(value) }));
  vcpu.setMpState(s.mpState);
  vcpu.setRegs(kvmRegs.read(bytes(s.regs, 'regs')));
  vcpu.setSregsRaw(bytes(s.sregs, 'sregs'));
  vcpu.setBlob('fpu', bytes(s.blobs.fpu, 'fpu'));
  for (const kind of BLOB_ORDER) vcpu.setBlob(kind, bytes(s.blobs[kind], kind));
  const set = vcpu.setMsrs(msrs);
  if (set < msrs.length) throw new Error(`KVM refused restoring MSR 0x${msrs[set]!.index.toString(16)}`);
  vcpu.setBlob('vcpu_events', bytes(s.blobs.vcpu_events, 'vcpu_events'));
}
