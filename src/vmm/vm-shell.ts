/**
 * A KVM VM made before its configuration is known (issue 4: restore latency):
 * /dev/kvm opened and checked, the VM with its TSS, identity map, in-kernel
 * irqchip with its legacy GSI routes, PIT, and vCPU 0 — the part of building a
 * VM that is the same for every guest. `typevisor vmm` prepares one while it waits for the API, so a
 * snapshot load or InstanceStart only adds memory slots, further vCPUs and
 * state. Under nested KVM (the KVM lab) these ioctls take hundreds of ms.
 */
import { Kvm } from '../kvm/kvm.js';
import type { Vm } from '../kvm/vm.js';
import { Vcpu } from '../kvm/vcpu.js';
import { debug } from './startup-trace.js';
import { defaultGsiRoutes } from './irq-routing.js';

/** Intel VMX needs a 3-page TSS and an identity-map page in the 32-bit hole, below the IOAPIC (KVM API doc 4.48). */
const KVM_TSS_ADDRESS = 0xfffb_d000;
const KVM_IDENTITY_MAP_ADDRESS = 0xfffb_c000;

export interface VmShell {
  kvm: Kvm;
  vm: Vm;
  /** vCPU 0, created after the irqchip as KVM requires (KVM API doc 4.24); no CPUID or registers set yet. */
  vcpu0: Vcpu;
  vcpuMmapSize: number;
}

/** Opens `kvmPath` and builds the configuration-independent part of a VM; throws on a host that cannot. */
export function createVmShell(kvmPath: string): VmShell {
  const kvm = Kvm.open(kvmPath);
  try {
    const missing = kvm.missingCapabilities();
    if (missing.length) throw new Error(`${kvmPath} lacks KVM capabilities typevisor needs: ${missing.join(', ')}`);
    const vm = kvm.createVm();
    try {
      vm.setTssAddress(KVM_TSS_ADDRESS);
      vm.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
      vm.createIrqchip();
      // The legacy routes with ISA IRQ 0 on IOAPIC pin 2 (KVM's default sends GSI 0 to pin 0); done here, ahead
      // of the request, because KVM_SET_GSI_ROUTING waits for an SRCU grace period (~85 ms in the KVM lab).
      vm.setGsiRouting(defaultGsiRoutes());
      vm.createPit2();
      const vcpuMmapSize = kvm.vcpuMmapSize();
      const vcpu0 = Vcpu.create(vm.fd, 0, vcpuMmapSize);
      return { kvm, vm, vcpu0, vcpuMmapSize };
    } catch (e) {
      vm.close();
      throw e;
    }
  } catch (e) {
    kvm.close();
    throw e;
  }
}

let prepared: { kvmPath: string; shell: VmShell } | undefined;

/**
 * Builds a shell ahead for the next VM on `kvmPath`. Failures are left for the
 * real build to report (with the same message), so this never throws.
 */
export function prepareVmShell(kvmPath: string): void {
  if (prepared) return;
  try {
    prepared = { kvmPath, shell: createVmShell(kvmPath) };
    debug('VM shell prepared');
  } catch {
    // no usable KVM here: building the VM will say why
  }
}

/** The prepared shell for `kvmPath` (each is handed out once), or a new one. */
export function takeVmShell(kvmPath: string): VmShell {
  if (prepared && prepared.kvmPath === kvmPath) {
    const { shell } = prepared;
    prepared = undefined;
    return shell;
  }
  return createVmShell(kvmPath);
}
