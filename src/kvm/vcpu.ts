/**
 * A KVM vCPU fd and its shared `kvm_run` page. Constructed on the main thread
 * (for setup and snapshots) and again inside the vCPU's worker thread from
 * the same fd and mapping address (fds and mappings are process-wide).
 */
import { check, MAP_SHARED, native, PROT_READ, PROT_WRITE } from '../sys/native.js';
import type { StructValue } from './struct-layout.js';
import * as I from './ioctls.js';
import {
  KVM_DEBUGREGS_SIZE,
  KVM_FPU_SIZE,
  KVM_LAPIC_SIZE,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
  kvmCpuid2Header,
  kvmCpuidEntry2,
  kvmMpState,
  kvmMsrEntry,
  kvmMsrsHeader,
  kvmRegs,
} from './structs.js';
import type { CpuidEntry } from './kvm.js';

export type Regs = StructValue<typeof kvmRegs.fields>;

export interface VcpuShared {
  index: number;
  fd: number;
  runAddress: bigint;
  runSize: number;
}

export class Vcpu {
  /** The kvm_run page (KVM API doc 5): exit information and immediate_exit. */
  readonly run: Uint8Array;

  private constructor(
    readonly index: number,
    readonly fd: number,
    readonly runAddress: bigint,
    readonly runSize: number,
    runBuffer: ArrayBuffer,
  ) {
    this.run = new Uint8Array(runBuffer);
  }

  static create(vmFd: number, index: number, mmapSize: number): Vcpu {
    const fd = check(native().ioctl(vmFd, I.KVM_CREATE_VCPU, index), 'KVM_CREATE_VCPU');
    const m = native().mmap(fd, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    if (typeof m === 'number') {
      native().close(fd);
      check(m, 'mmap kvm_run');
      throw new Error('unreachable');
    }
    return new Vcpu(index, fd, m.address, mmapSize, m.buffer);
  }

  /** Re-creates the object in another thread of the same process. */
  static fromShared(s: VcpuShared): Vcpu {
    return new Vcpu(s.index, s.fd, s.runAddress, s.runSize, native().bufferAt(s.runAddress, s.runSize));
  }

  shared(): VcpuShared {
    return { index: this.index, fd: this.fd, runAddress: this.runAddress, runSize: this.runSize };
  }

  /** KVM_RUN: returns 0, or a negative errno (-4 EINTR when kicked). Never throws: it is the hot path. */
  runOnce(): number {
    return native().ioctl(this.fd, I.KVM_RUN, 0);
  }

  getRegs(): Regs {
    const buf = kvmRegs.alloc();
    check(native().ioctl(this.fd, I.KVM_GET_REGS, buf), 'KVM_GET_REGS');
    return kvmRegs.read(buf);
  }

  setRegs(regs: Partial<Regs>): void {
    const buf = kvmRegs.encode(regs);
    check(native().ioctl(this.fd, I.KVM_SET_REGS, buf), 'KVM_SET_REGS');
  }

  getSregsRaw(): Uint8Array {
    const buf = new Uint8Array(KVM_SREGS_SIZE);
    check(native().ioctl(this.fd, I.KVM_GET_SREGS, buf), 'KVM_GET_SREGS');
    return buf;
  }

  setSregsRaw(buf: Uint8Array): void {
    check(native().ioctl(this.fd, I.KVM_SET_SREGS, buf), 'KVM_SET_SREGS');
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    const buf = new Uint8Array(kvmCpuid2Header.size + entries.length * kvmCpuidEntry2.size);
    kvmCpuid2Header.set(buf, 'nent', entries.length);
    entries.forEach((e, i) => kvmCpuidEntry2.write(buf, e, kvmCpuid2Header.size + i * kvmCpuidEntry2.size));
    check(native().ioctl(this.fd, I.KVM_SET_CPUID2, buf), 'KVM_SET_CPUID2');
  }

  /** KVM_SET_MSRS returns how many were set; fewer than asked names the first refused one. */
  setMsrs(msrs: ReadonlyArray<{ index: number; value: bigint }>): number {
    const buf = new Uint8Array(kvmMsrsHeader.size + msrs.length * kvmMsrEntry.size);
    kvmMsrsHeader.set(buf, 'nmsrs', msrs.length);
    msrs.forEach((m, i) => kvmMsrEntry.write(buf, { index: m.index, data: m.value }, 8 + i * kvmMsrEntry.size));
    return check(native().ioctl(this.fd, I.KVM_SET_MSRS, buf), 'KVM_SET_MSRS');
  }

  getMsrs(indices: readonly number[]): Array<{ index: number; value: bigint }> {
    const buf = new Uint8Array(kvmMsrsHeader.size + indices.length * kvmMsrEntry.size);
    kvmMsrsHeader.set(buf, 'nmsrs', indices.length);
    indices.forEach((index, i) => kvmMsrEntry.set(buf, 'index', index, 8 + i * kvmMsrEntry.size));
    const n = check(native().ioctl(this.fd, I.KVM_GET_MSRS, buf), 'KVM_GET_MSRS');
    return Array.from({ length: n }, (_, i) => {
      const e = kvmMsrEntry.read(buf, 8 + i * kvmMsrEntry.size);
      return { index: e.index, value: e.data };
    });
  }

  getMpState(): number {
    const buf = kvmMpState.alloc();
    check(native().ioctl(this.fd, I.KVM_GET_MP_STATE, buf), 'KVM_GET_MP_STATE');
    return kvmMpState.get(buf, 'mp_state');
  }

  setMpState(state: number): void {
    check(native().ioctl(this.fd, I.KVM_SET_MP_STATE, kvmMpState.encode({ mp_state: state })), 'KVM_SET_MP_STATE');
  }

  /** Opaque per-vCPU state blobs for snapshots, saved and restored byte for byte. */
  getBlob(kind: VcpuBlob): Uint8Array {
    const spec = BLOBS[kind];
    const buf = new Uint8Array(spec.size);
    check(native().ioctl(this.fd, spec.get, buf), `KVM_GET_${kind.toUpperCase()}`);
    return buf;
  }

  setBlob(kind: VcpuBlob, bytes: Uint8Array): void {
    const spec = BLOBS[kind];
    if (bytes.length !== spec.size) throw new Error(`${kind} state must be ${spec.size} bytes, got ${bytes.length}`);
    check(native().ioctl(this.fd, spec.set, bytes), `KVM_SET_${kind.toUpperCase()}`);
  }

  /** Tell the guest's kvmclock it was paused, so its watchdogs don't fire (KVM API doc 4.76). */
  kvmclockCtrl(): void {
    native().ioctl(this.fd, I.KVM_KVMCLOCK_CTRL, 0);
  }

  close(): void {
    native().munmap(this.runAddress, this.runSize);
    native().close(this.fd);
  }
}

export type VcpuBlob = 'fpu' | 'lapic' | 'xsave' | 'xcrs' | 'vcpu_events' | 'debugregs';

const BLOBS: Record<VcpuBlob, { get: number; set: number; size: number }> = {
  fpu: { get: I.KVM_GET_FPU, set: I.KVM_SET_FPU, size: KVM_FPU_SIZE },
  lapic: { get: I.KVM_GET_LAPIC, set: I.KVM_SET_LAPIC, size: KVM_LAPIC_SIZE },
  xsave: { get: I.KVM_GET_XSAVE, set: I.KVM_SET_XSAVE, size: KVM_XSAVE_SIZE },
  xcrs: { get: I.KVM_GET_XCRS, set: I.KVM_SET_XCRS, size: KVM_XCRS_SIZE },
  vcpu_events: { get: I.KVM_GET_VCPU_EVENTS, set: I.KVM_SET_VCPU_EVENTS, size: KVM_VCPU_EVENTS_SIZE },
  debugregs: { get: I.KVM_GET_DEBUGREGS, set: I.KVM_SET_DEBUGREGS, size: KVM_DEBUGREGS_SIZE },
};
