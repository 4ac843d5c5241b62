/**
 * The KVM system object (/dev/kvm): API version, capabilities, supported
 * CPUID and MSRs, VM creation. Mirrors rust-vmm's kvm-ioctls `Kvm`.
 */
import { check, EINTR, native, O_RDWR } from '../sys/native.js';
import { SysError } from '../sys/errors.js';
import * as I from './ioctls.js';
import { kvmCpuid2Header, kvmCpuidEntry2, kvmMsrsHeader } from './structs.js';
import { Vm } from './vm.js';

export interface CpuidEntry {
  function: number;
  index: number;
  /** KVM_CPUID_FLAG_* (bit 0: the index/subleaf is significant). */
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export const DEFAULT_KVM_PATH = '/dev/kvm';

export class KvmUnavailableError extends Error {}

export class Kvm {
  private closed = false;
  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {}

  /** Opens /dev/kvm (or `path`, e.g. from --kvm / TYPEVISOR_KVM) and checks the API version. */
  static open(path = process.env['TYPEVISOR_KVM'] ?? DEFAULT_KVM_PATH): Kvm {
    const fd = native().open(path, O_RDWR);
    if (fd < 0) {
      const err = new SysError(-fd, `open ${path}`);
      throw new KvmUnavailableError(
        err.code === 'ENOENT'
          ? `${path} does not exist: this host has no usable KVM (see \`typevisor host\`)`
          : `cannot open ${path}: ${err.code} (${native().strerror(-fd)})`,
      );
    }
    const kvm = new Kvm(fd, path);
    const version = native().ioctl(fd, I.KVM_GET_API_VERSION);
    if (version !== I.KVM_API_VERSION) {
      kvm.close();
      throw new KvmUnavailableError(
        version < 0
          ? `${path} is not a KVM device (KVM_GET_API_VERSION failed: ${native().strerror(-version)})`
          : `${path} speaks KVM API version ${version}; typevisor needs ${I.KVM_API_VERSION}`,
      );
    }
    return kvm;
  }

  apiVersion(): number {
    return check(native().ioctl(this.fd, I.KVM_GET_API_VERSION), 'KVM_GET_API_VERSION');
  }

  /** KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value. */
  checkExtension(cap: number): number {
    const r = native().ioctl(this.fd, I.KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
  }

  missingCapabilities(): string[] {
    return I.REQUIRED_CAPS.filter((name) => this.checkExtension(I.KVM_CAP[name]) <= 0);
  }

  vcpuMmapSize(): number {
    return check(native().ioctl(this.fd, I.KVM_GET_VCPU_MMAP_SIZE), 'KVM_GET_VCPU_MMAP_SIZE');
  }

  maxVcpus(): number {
    return this.checkExtension(I.KVM_CAP.MAX_VCPUS) || this.checkExtension(I.KVM_CAP.NR_VCPUS) || 4;
  }

  supportedCpuid(): CpuidEntry[] {
    // Grow the buffer until KVM stops answering E2BIG (KVM API doc 4.46).
    for (let nent = 80; nent <= 4096; nent *= 2) {
      const buf = new Uint8Array(kvmCpuid2Header.size + nent * kvmCpuidEntry2.size);
      kvmCpuid2Header.set(buf, 'nent', nent);
      const r = native().ioctl(this.fd, I.KVM_GET_SUPPORTED_CPUID, buf);
      if (r === -7 /* E2BIG */) continue;
      check(r, 'KVM_GET_SUPPORTED_CPUID');
      const count = kvmCpuid2Header.get(buf, 'nent');
      const out: CpuidEntry[] = [];
      for (let i = 0; i < count; i++) {
        out.push(kvmCpuidEntry2.read(buf, kvmCpuid2Header.size + i * kvmCpuidEntry2.size));
      }
      return out;
    }
    throw new Error('KVM_GET_SUPPORTED_CPUID: too many entries');
  }

  msrIndexList(): number[] {
    for (let n = 256; n <= 16384; n *= 2) {
      const buf = new Uint8Array(4 + 4 * n);
      kvmMsrsHeader.set(buf, 'nmsrs', n);
      const r = native().ioctl(this.fd, I.KVM_GET_MSR_INDEX_LIST, buf);
      if (r === -7 /* E2BIG */) continue;
      check(r, 'KVM_GET_MSR_INDEX_LIST');
      const count = new DataView(buf.buffer).getUint32(0, true);
      const view = new DataView(buf.buffer, 4);
      return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
    }
    throw new Error('KVM_GET_MSR_INDEX_LIST: too many entries');
  }

  createVm(): Vm {
    // KVM_CREATE_VM registers an MMU notifier, which takes every mm lock and gives up with EINTR when a signal
    // is pending (mm_take_all_locks): a profiler's SIGPROF is enough. Nothing was created, so ask again, as QEMU does.
    let fd: number;
    do fd = native().ioctl(this.fd, I.KVM_CREATE_VM, 0);
    while (fd === -EINTR);
    check(fd, 'KVM_CREATE_VM');
    return new Vm(fd, this);
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      native().close(this.fd);
    }
  }
}
