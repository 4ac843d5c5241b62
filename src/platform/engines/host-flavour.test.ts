import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyHost, parseCpuFlags, readHostFacts, type HostFacts } from './host-flavour.js';

const CPUINFO_AMD = `processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme de pse tsc msr svm lahf_lm
bugs\t\t: sysret_ss_attrs

processor\t: 1
flags\t\t: fpu vme de pse tsc msr svm lahf_lm
`;

function facts(overrides: Partial<HostFacts> & { flags?: string[]; mods?: Partial<HostFacts['modules']> }): HostFacts {
  return {
    devKvmPresent: overrides.devKvmPresent ?? true,
    devKvmAccessible: overrides.devKvmAccessible ?? true,
    cpuFlags: new Set(overrides.flags ?? []),
    modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: false, ...overrides.mods },
  };
}

test('parseCpuFlags reads the first flags line', () => {
  const flags = parseCpuFlags(CPUINFO_AMD);
  assert.ok(flags.has('svm'));
  assert.ok(flags.has('lahf_lm'));
  assert.equal(flags.has('vmx'), false);
  assert.equal(parseCpuFlags('processor : 0\n').size, 0);
});

test('VMX with kvm_intel is hardware KVM', () => {
  const flavour = classifyHost(facts({ flags: ['vmx'], mods: { kvmIntel: true } }));
  assert.equal(flavour.kind, 'vmx');
  assert.equal(flavour.hardwareKvm, true);
  assert.match(flavour.description, /kvm_intel/);
});

test('SVM with kvm_amd is hardware KVM even when kvm_pvm is loaded too', () => {
  const flavour = classifyHost(facts({ flags: ['svm'], mods: { kvmAmd: true, kvmPvm: true } }));
  assert.equal(flavour.kind, 'svm');
  assert.equal(flavour.hardwareKvm, true);
});

test('kvm_pvm without a vendor module is a PVM host', () => {
  const flavour = classifyHost(facts({ flags: ['hypervisor'], mods: { kvmPvm: true } }));
  assert.equal(flavour.kind, 'pvm');
  assert.equal(flavour.hardwareKvm, false);
  assert.match(flavour.description, /PVM/);
});

test('no /dev/kvm is no-kvm whatever the modules say', () => {
  const flavour = classifyHost(facts({ devKvmPresent: false, flags: ['hypervisor'], mods: { kvmPvm: true } }));
  assert.equal(flavour.kind, 'no-kvm');
  assert.match(flavour.description, /no \/dev\/kvm/);
  const withVmx = classifyHost(facts({ devKvmPresent: false, flags: ['vmx'] }));
  assert.equal(withVmx.kind, 'no-kvm');
  assert.match(withVmx.description, /VMX/);
});

test('an inaccessible /dev/kvm is not usable', () => {
  const flavour = classifyHost(facts({ devKvmAccessible: false, flags: ['vmx'], mods: { kvmIntel: true } }));
  assert.equal(flavour.kind, 'no-kvm');
  assert.match(flavour.description, /permission denied/);
});

test('a CPU flag without a visible vendor module still counts (built-in kvm_intel)', () => {
  assert.equal(classifyHost(facts({ flags: ['vmx'] })).kind, 'vmx');
  assert.equal(classifyHost(facts({ flags: [] })).kind, 'no-kvm');
});

test('readHostFacts reads a fake root tree', async () => {
  const root = await mkdtemp(join(tmpdir(), 'host-flavour-'));
  try {
    await mkdir(join(root, 'proc'));
    await mkdir(join(root, 'dev'));
    await mkdir(join(root, 'sys/module/kvm_amd'), { recursive: true });
    await mkdir(join(root, 'sys/module/kvm'), { recursive: true });
    await writeFile(join(root, 'proc/cpuinfo'), CPUINFO_AMD);
    const without = await readHostFacts(root);
    assert.equal(without.devKvmPresent, false);
    assert.equal(classifyHost(without).kind, 'no-kvm');
    await writeFile(join(root, 'dev/kvm'), '');
    const withKvm = await readHostFacts(root);
    assert.equal(withKvm.devKvmPresent, true);
    assert.equal(withKvm.modules.kvmAmd, true);
    assert.equal(withKvm.modules.kvmPvm, false);
    assert.equal(classifyHost(withKvm).kind, 'svm');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
