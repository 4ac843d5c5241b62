/**
 * `typevisor host`: what this host's KVM offers typevisor and what will run here.
 */
import type { Command } from 'commander';
import { Kvm, DEFAULT_KVM_PATH } from '../kvm/kvm.js';
import { KVM_CAP, REQUIRED_CAPS } from '../kvm/ioctls.js';
import { detectHostFlavour, type HostFlavour } from '../platform/engines/host-flavour.js';

export interface HostReport {
  flavour: HostFlavour;
  kvmPath: string;
  kvm:
    | { available: true; apiVersion: number; maxVcpus: number; recommendedVcpus: number; capabilities: Record<string, boolean> }
    | { available: false; reason: string };
  canRun: string[];
  cannotRun: string[];
}

export async function hostReport(kvmPath: string): Promise<HostReport> {
  const flavour = await detectHostFlavour();
  let kvm: HostReport['kvm'];
  try {
    const k = Kvm.open(kvmPath);
    const capabilities: Record<string, boolean> = {};
    for (const [name, value] of Object.entries(KVM_CAP)) capabilities[name] = k.checkExtension(value) > 0;
    kvm = {
      available: true,
      apiVersion: k.apiVersion(),
      maxVcpus: k.maxVcpus(),
      recommendedVcpus: k.checkExtension(KVM_CAP.NR_VCPUS),
      capabilities,
    };
    k.close();
  } catch (e) {
    kvm = { available: false, reason: (e as Error).message };
  }
  const canRun: string[] = [];
  const cannotRun: string[] = [];
  const missing = kvm.available ? REQUIRED_CAPS.filter((c) => !kvm.capabilities[c]) : [];
  if (flavour.hardwareKvm && kvm.available && missing.length === 0) {
    canRun.push('typevisor VMM: Linux guests (bzImage, vmlinux, PVH) with virtio devices, SMP, snapshots');
    canRun.push('qemu engine with KVM acceleration (-accel kvm)');
  } else {
    if (flavour.kind === 'pvm') {
      canRun.push('typevisor VMM: tiny test guests whose kernel-mode part is short (kernel mode is emulated on PVM)');
      cannotRun.push('typevisor VMM: a Linux kernel cannot boot to userspace on a PVM host');
    } else {
      cannotRun.push(`typevisor VMM: needs /dev/kvm with VMX or SVM (${kvm.available ? `missing ${missing.join(', ')}` : kvm.reason})`);
    }
    canRun.push('qemu engine with TCG software emulation (slower, but boots any guest): the platform uses it here');
  }
  return { flavour, kvmPath, kvm, canRun, cannotRun };
}

export function registerHostCommand(program: Command): void {
  program
    .command('host')
    .description('report the KVM API version, host flavour (VMX, SVM or PVM), limits and what runs here')
    .option('--kvm <path>', 'KVM device', process.env['TYPEVISOR_KVM'] ?? DEFAULT_KVM_PATH)
    .option('--json', 'machine-readable output')
    .action(async (opts: { kvm: string; json?: boolean }) => {
      const r = await hostReport(opts.kvm);
      if (opts.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const lines = [
        `host flavour:  ${r.flavour.kind.toUpperCase()} — ${r.flavour.description}`,
        `KVM device:    ${r.kvmPath}`,
      ];
      if (r.kvm.available) {
        lines.push(`KVM API:       version ${r.kvm.apiVersion}`);
        lines.push(`max vCPUs:     ${r.kvm.maxVcpus} (recommended ${r.kvm.recommendedVcpus})`);
        const caps = Object.entries(r.kvm.capabilities).map(([n, ok]) => `${ok ? '+' : '-'}${n}`);
        lines.push(`capabilities:  ${caps.join(' ')}`);
      } else {
        lines.push(`KVM:           unavailable — ${r.kvm.reason}`);
      }
      lines.push('will run:');
      for (const l of r.canRun) lines.push(`  ✓ ${l}`);
      if (r.cannotRun.length) lines.push('will not run:');
      for (const l of r.cannotRun) lines.push(`  ✗ ${l}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
