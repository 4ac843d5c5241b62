import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bitsFor, cpuVendor, findCpuid, guestCpuid, Leaf1 } from './cpuid.js';
import { AMD_EPYC_SUPPORTED, INTEL_XEON_SUPPORTED } from './cpuid.fixtures.js';

const leaf = (entries: ReturnType<typeof guestCpuid>, fn: number, index = 0) => {
  const entry = findCpuid(entries, fn, index);
  assert.ok(entry, `leaf 0x${fn.toString(16)}.${index} present`);
  return entry;
};

test('vendor detection', () => {
  assert.equal(cpuVendor(AMD_EPYC_SUPPORTED), 'amd');
  assert.equal(cpuVendor(INTEL_XEON_SUPPORTED), 'intel');
  assert.equal(cpuVendor([]), 'other');
  assert.deepEqual([1, 2, 3, 4, 5, 32].map(bitsFor), [0, 1, 2, 2, 3, 5]);
});

test('leaf 1: APIC id, CLFLUSH, logical count, hypervisor bit, MONITOR and PDCM hidden, x2APIC kept', () => {
  for (const supported of [AMD_EPYC_SUPPORTED, INTEL_XEON_SUPPORTED]) {
    const cpu = guestCpuid(supported, 2, 3);
    const l1 = leaf(cpu, 1);
    assert.equal(l1.ebx >>> 24, 2);
    assert.equal((l1.ebx >> 16) & 0xff, 4); // 3 vCPUs need 2 APIC-id bits
    assert.equal((l1.ebx >> 8) & 0xff, 8);
    assert.ok(l1.ecx & Leaf1.ECX_HYPERVISOR);
    assert.ok(l1.ecx >= 0, 'registers are unsigned');
    assert.equal(l1.ecx & Leaf1.ECX_MONITOR, 0);
    assert.equal(l1.ecx & Leaf1.ECX_PDCM, 0);
    assert.ok(l1.ecx & Leaf1.ECX_X2APIC);
    assert.ok(l1.edx & Leaf1.EDX_HTT);
    assert.deepEqual(leaf(cpu, 5), { ...leaf(cpu, 5), eax: 0, ebx: 0, ecx: 0, edx: 0 });
    const l6 = leaf(cpu, 6);
    assert.deepEqual([l6.eax, l6.ebx, l6.ecx, l6.edx], [4, 0, 0, 0]);
  }
  const single = leaf(guestCpuid(INTEL_XEON_SUPPORTED, 0, 1), 1);
  assert.equal(single.edx & Leaf1.EDX_HTT, 0);
  assert.equal((single.ebx >> 16) & 0xff, 1);
});

test('the supported list is not modified and KVM leaves are kept', () => {
  const before = JSON.stringify(INTEL_XEON_SUPPORTED);
  const cpu = guestCpuid(INTEL_XEON_SUPPORTED, 0, 2);
  assert.equal(JSON.stringify(INTEL_XEON_SUPPORTED), before);
  const sig = leaf(cpu, 0x4000_0000);
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32LE(sig.ebx, 0);
  bytes.writeUInt32LE(sig.ecx, 4);
  bytes.writeUInt32LE(sig.edx, 8);
  assert.equal(bytes.toString('latin1'), 'KVMKVMKVM\0\0\0');
  assert.equal(leaf(cpu, 0x4000_0001).eax, 0x0100_7efb);
});

test('x2APIC topology leaves 0xB and 0x1F: one thread per core, all vCPUs cores of one socket', () => {
  const cpu = guestCpuid(INTEL_XEON_SUPPORTED, 5, 6);
  for (const fn of [0xb, 0x1f]) {
    const entries = cpu.filter((e) => e.function === fn);
    assert.equal(entries.length, 3);
    const [smt, core, end] = entries as [typeof entries[0], typeof entries[0], typeof entries[0]];
    assert.deepEqual([smt.index, smt.eax, smt.ebx, smt.ecx, smt.edx, smt.flags], [0, 0, 1, 0x100, 5, 1]);
    assert.deepEqual([core.index, core.eax, core.ebx, core.ecx, core.edx], [1, 3, 6, 0x201, 5]);
    assert.deepEqual([end.index, end.eax, end.ebx, end.ecx & 0xff00, end.edx], [2, 0, 0, 0, 5]);
  }
});

test('Intel leaf 4: cores per package and threads sharing each cache', () => {
  const cpu = guestCpuid(INTEL_XEON_SUPPORTED, 0, 4);
  const l1d = leaf(cpu, 4, 0);
  assert.equal(l1d.eax >>> 26, 3);
  assert.equal((l1d.eax >> 14) & 0xfff, 0);
  assert.equal(l1d.eax & 0x3fff, 0x121);
  const l3 = leaf(cpu, 4, 3);
  assert.equal((l3.eax >> 14) & 0xfff, 3);
  assert.equal(leaf(cpu, 4, 4).eax, 0);
});

test('perfmon leaf hidden without a vPMU, kept with one', () => {
  assert.equal(leaf(guestCpuid(INTEL_XEON_SUPPORTED, 0, 1), 0xa).eax, 0);
  const withPmu = guestCpuid(INTEL_XEON_SUPPORTED, 0, 1, { pmu: true });
  assert.equal(leaf(withPmu, 0xa).eax, 0x08300805);
  assert.ok(leaf(withPmu, 1).ecx & Leaf1.ECX_PDCM);
});

test('AMD: core count in 0x80000008, cache sharing in 0x8000001D, ids in 0x8000001E, CmpLegacy', () => {
  const cpu = guestCpuid(AMD_EPYC_SUPPORTED, 3, 4);
  assert.equal(leaf(cpu, 0x8000_0008).ecx, (2 << 12) | 3);
  assert.equal(leaf(cpu, 0x8000_0008).eax, 0x3030);
  assert.equal((leaf(cpu, 0x8000_001d, 0).eax >> 14) & 0xfff, 0);
  assert.equal((leaf(cpu, 0x8000_001d, 3).eax >> 14) & 0xfff, 3);
  assert.equal(leaf(cpu, 0x8000_001d, 3).eax & 0x3fff, 0x163);
  const ext = leaf(cpu, 0x8000_001e);
  assert.deepEqual([ext.eax, ext.ebx, ext.ecx], [3, 3, 0]);
  assert.ok(leaf(cpu, 0x8000_0001).ecx & 2);
  assert.equal(leaf(guestCpuid(AMD_EPYC_SUPPORTED, 0, 1), 0x8000_0001).ecx & 2, 0);
  // Intel keeps 0x80000008 ECX reserved.
  assert.equal(leaf(guestCpuid(INTEL_XEON_SUPPORTED, 0, 4), 0x8000_0008).ecx, 0);
});

test('bad vCPU index or count is refused', () => {
  assert.throws(() => guestCpuid(INTEL_XEON_SUPPORTED, 2, 2), /vCPU index 2 is outside 0..1/);
  assert.throws(() => guestCpuid(INTEL_XEON_SUPPORTED, 0, 0), /vCPU count/);
  assert.throws(() => guestCpuid(INTEL_XEON_SUPPORTED, 0, 999), /vCPU count/);
});
