/**
 * Checks the TypeScript layouts and ioctl numbers against the host's real
 * kernel headers: a small C program prints sizeof/offsetof and the request
 * numbers, and each must equal what src/kvm declares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as S from './structs.js';
import * as I from './ioctls.js';

const HEADER = '/usr/include/linux/kvm.h';

const checks: Array<[string, string, number]> = [
  ['sizeof(struct kvm_userspace_memory_region)', 'mem', S.kvmUserspaceMemoryRegion.size],
  ['offsetof(struct kvm_userspace_memory_region, userspace_addr)', 'mem.ua', S.kvmUserspaceMemoryRegion.fields.userspace_addr.offset],
  ['sizeof(struct kvm_regs)', 'regs', S.kvmRegs.size],
  ['offsetof(struct kvm_regs, rip)', 'regs.rip', S.kvmRegs.fields.rip.offset],
  ['sizeof(struct kvm_segment)', 'seg', S.kvmSegment.size],
  ['offsetof(struct kvm_segment, unusable)', 'seg.unusable', S.kvmSegment.fields.unusable.offset],
  ['sizeof(struct kvm_sregs)', 'sregs', S.KVM_SREGS_SIZE],
  ['offsetof(struct kvm_sregs, tr)', 'sregs.tr', S.SREGS_SEGMENT_OFFSETS.tr],
  ['offsetof(struct kvm_sregs, gdt)', 'sregs.gdt', S.SREGS_GDT_OFFSET],
  ['offsetof(struct kvm_sregs, idt)', 'sregs.idt', S.SREGS_IDT_OFFSET],
  ['offsetof(struct kvm_sregs, cr0)', 'sregs.cr0', S.kvmSregsScalars.fields.cr0.offset],
  ['offsetof(struct kvm_sregs, efer)', 'sregs.efer', S.kvmSregsScalars.fields.efer.offset],
  ['offsetof(struct kvm_sregs, apic_base)', 'sregs.apic', S.kvmSregsScalars.fields.apic_base.offset],
  ['offsetof(struct kvm_run, exit_reason)', 'run.exit', S.kvmRun.fields.exit_reason.offset],
  ['offsetof(struct kvm_run, io.port)', 'run.io.port', S.kvmRun.fields.io_port.offset],
  ['offsetof(struct kvm_run, io.data_offset)', 'run.io.off', S.kvmRun.fields.io_data_offset.offset],
  ['offsetof(struct kvm_run, mmio.data)', 'run.mmio.data', S.KVM_RUN_MMIO_DATA_OFFSET],
  ['offsetof(struct kvm_run, mmio.len)', 'run.mmio.len', S.kvmRun.fields.mmio_len.offset],
  ['offsetof(struct kvm_run, mmio.is_write)', 'run.mmio.w', S.kvmRun.fields.mmio_is_write.offset],
  ['offsetof(struct kvm_run, system_event.type)', 'run.se', S.kvmRun.fields.system_event_type.offset],
  ['offsetof(struct kvm_run, internal.ndata)', 'run.int', S.kvmRun.fields.internal_ndata.offset],
  ['sizeof(struct kvm_ioeventfd)', 'ioev', S.kvmIoeventfd.size],
  ['offsetof(struct kvm_ioeventfd, flags)', 'ioev.flags', S.kvmIoeventfd.fields.flags.offset],
  ['sizeof(struct kvm_irqfd)', 'irqfd', S.kvmIrqfd.size],
  ['sizeof(struct kvm_irq_routing_entry)', 'route', S.kvmIrqRoutingEntry.size],
  ['offsetof(struct kvm_irq_routing_entry, u.msi.data)', 'route.data', S.kvmIrqRoutingEntry.fields.data.offset],
  ['sizeof(struct kvm_msi)', 'msi', S.kvmMsi.size],
  ['sizeof(struct kvm_msr_entry)', 'msr', S.kvmMsrEntry.size],
  ['sizeof(struct kvm_cpuid_entry2)', 'cpuid', S.kvmCpuidEntry2.size],
  ['sizeof(struct kvm_clock_data)', 'clock', S.kvmClockData.size],
  ['offsetof(struct kvm_clock_data, realtime)', 'clock.rt', S.kvmClockData.fields.realtime.offset],
  ['sizeof(struct kvm_fpu)', 'fpu', S.KVM_FPU_SIZE],
  ['sizeof(struct kvm_lapic_state)', 'lapic', S.KVM_LAPIC_SIZE],
  ['sizeof(struct kvm_xsave)', 'xsave', S.KVM_XSAVE_SIZE],
  ['sizeof(struct kvm_xcrs)', 'xcrs', S.KVM_XCRS_SIZE],
  ['sizeof(struct kvm_vcpu_events)', 'events', S.KVM_VCPU_EVENTS_SIZE],
  ['sizeof(struct kvm_debugregs)', 'dbg', S.KVM_DEBUGREGS_SIZE],
  ['sizeof(struct kvm_irqchip)', 'irqchip', S.KVM_IRQCHIP_SIZE],
  ['sizeof(struct kvm_pit_state2)', 'pit', S.KVM_PIT_STATE2_SIZE],
  ['sizeof(struct kvm_pit_config)', 'pitcfg', S.kvmPitConfig.size],
];

const ioctlNames = [
  'KVM_GET_API_VERSION', 'KVM_CREATE_VM', 'KVM_GET_MSR_INDEX_LIST', 'KVM_CHECK_EXTENSION', 'KVM_GET_VCPU_MMAP_SIZE',
  'KVM_GET_SUPPORTED_CPUID', 'KVM_CREATE_VCPU', 'KVM_GET_DIRTY_LOG', 'KVM_SET_USER_MEMORY_REGION', 'KVM_SET_TSS_ADDR',
  'KVM_SET_IDENTITY_MAP_ADDR', 'KVM_CREATE_IRQCHIP', 'KVM_IRQ_LINE', 'KVM_GET_IRQCHIP', 'KVM_SET_IRQCHIP',
  'KVM_SET_GSI_ROUTING', 'KVM_IRQFD', 'KVM_CREATE_PIT2', 'KVM_IOEVENTFD', 'KVM_SET_CLOCK', 'KVM_GET_CLOCK',
  'KVM_GET_PIT2', 'KVM_SET_PIT2', 'KVM_SIGNAL_MSI', 'KVM_ENABLE_CAP', 'KVM_RUN', 'KVM_GET_REGS', 'KVM_SET_REGS',
  'KVM_GET_SREGS', 'KVM_SET_SREGS', 'KVM_GET_MSRS', 'KVM_SET_MSRS', 'KVM_GET_FPU', 'KVM_SET_FPU', 'KVM_GET_LAPIC',
  'KVM_SET_LAPIC', 'KVM_SET_CPUID2', 'KVM_GET_MP_STATE', 'KVM_SET_MP_STATE', 'KVM_GET_VCPU_EVENTS',
  'KVM_SET_VCPU_EVENTS', 'KVM_GET_DEBUGREGS', 'KVM_SET_DEBUGREGS', 'KVM_GET_XSAVE', 'KVM_SET_XSAVE', 'KVM_GET_XCRS',
  'KVM_SET_XCRS', 'KVM_KVMCLOCK_CTRL', 'KVM_GET_TSC_KHZ',
] as const;

test('KVM struct layouts and ioctl numbers match the host kernel headers', { skip: !existsSync(HEADER) && `${HEADER} missing (install linux-libc-dev)` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-kvm-layout-'));
  try {
    const lines = [
      '#include <stdio.h>',
      '#include <stddef.h>',
      '#include <linux/kvm.h>',
      'int main(void) {',
      ...checks.map(([expr, key]) => `  printf("%s %lu\\n", "${key}", (unsigned long)(${expr}));`),
      ...ioctlNames.map((n) => `  printf("%s %lu\\n", "${n}", (unsigned long)(${n}));`),
      '  return 0;',
      '}',
    ];
    writeFileSync(join(dir, 'layout.c'), lines.join('\n'));
    execFileSync('cc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
    const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
    const real = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    for (const [expr, key, ours] of checks) assert.equal(ours, Number(real.get(key)), expr);
    for (const name of ioctlNames) {
      assert.equal((I as Record<string, unknown>)[name], Number(real.get(name)), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
