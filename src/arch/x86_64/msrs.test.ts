import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMsrs, Msr, SNAPSHOT_MSR_CANDIDATES } from './msrs.js';
import { configureBootLapicLint, LapicRegister } from './lapic.js';

test('boot MSRs: syscall MSRs cleared, fast strings, MTRRs on with write-back default', () => {
  const byIndex = new Map(bootMsrs().map((m) => [m.index, m.value]));
  for (const index of [0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102, 0x10]) {
    assert.equal(byIndex.get(index), 0n, `MSR 0x${index.toString(16)}`);
  }
  assert.equal(byIndex.get(0x1a0), 1n);
  assert.equal(byIndex.get(0x2ff), 0x806n);
});

test('snapshot MSR candidates: unique, include kvm-clock and the TSC deadline after the TSC', () => {
  assert.equal(new Set(SNAPSHOT_MSR_CANDIDATES).size, SNAPSHOT_MSR_CANDIDATES.length);
  assert.ok(SNAPSHOT_MSR_CANDIDATES.includes(Msr.KVM_SYSTEM_TIME_NEW));
  assert.ok(SNAPSHOT_MSR_CANDIDATES.includes(0x20f)); // last variable MTRR mask
  assert.ok(SNAPSHOT_MSR_CANDIDATES.indexOf(Msr.IA32_TSC_DEADLINE) > SNAPSHOT_MSR_CANDIDATES.indexOf(Msr.IA32_TSC));
});

test('LAPIC LINT0 becomes ExtINT and LINT1 NMI, other bits kept', () => {
  const state = new Uint8Array(1024);
  const view = new DataView(state.buffer);
  view.setUint32(LapicRegister.LVT_LINT0, 0x0001_0000, true); // masked, fixed
  view.setUint32(LapicRegister.LVT_LINT1, 0x0001_0000, true);
  configureBootLapicLint(state);
  assert.equal(view.getUint32(LapicRegister.LVT_LINT0, true), 0x0001_0700);
  assert.equal(view.getUint32(LapicRegister.LVT_LINT1, true), 0x0001_0400);
  assert.throws(() => configureBootLapicLint(new Uint8Array(16)), /1024 bytes/);
});
