import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vcpu, VcpuBlob } from '../../kvm/vcpu.js';
import { kvmRegs } from '../../kvm/structs.js';
import { restoreVcpu, saveVcpu } from './vcpu-state.js';

/** A vCPU that records the order of the KVM calls made on it and hands back what was set. */
function recordingVcpu(): { vcpu: Vcpu; calls: string[] } {
  const calls: string[] = [];
  const blobs = new Map<VcpuBlob, Uint8Array>();
  const fake = {
    index: 0,
    getRegs: () => (calls.push('get regs'), kvmRegs.read(kvmRegs.alloc())),
    setRegs: () => void calls.push('set regs'),
    getSregsRaw: () => (calls.push('get sregs'), new Uint8Array(312)),
    setSregsRaw: () => void calls.push('set sregs'),
    getMsrs: (indices: readonly number[]) => (calls.push('get msrs'), indices.map((index) => ({ index, value: 7n }))),
    setMsrs: (msrs: readonly unknown[]) => (calls.push('set msrs'), msrs.length),
    getMpState: () => (calls.push('get mp_state'), 0),
    setMpState: () => void calls.push('set mp_state'),
    getBlob: (kind: VcpuBlob) => (calls.push(`get ${kind}`), blobs.get(kind) ?? new Uint8Array([1, 2, 3])),
    setBlob: (kind: VcpuBlob, bytes: Uint8Array) => void (calls.push(`set ${kind}`), blobs.set(kind, bytes)),
  };
  return { vcpu: fake as unknown as Vcpu, calls };
}

test('vCPU save reads MP state first (KVM_GET_MP_STATE may change the LAPIC) and vcpu events last', () => {
  const { vcpu, calls } = recordingVcpu();
  const state = saveVcpu(vcpu, [0x10, 0x6e0]);
  assert.equal(calls[0], 'get mp_state');
  assert.equal(calls.at(-1), 'get vcpu_events');
  assert.deepEqual(state.msrs, [[0x10, '7'], [0x6e0, '7']]);
});

test('vCPU restore writes the MSRs after the LAPIC (a TSC deadline set before KVM_SET_LAPIC is lost) and vcpu events last', () => {
  const saved = saveVcpu(recordingVcpu().vcpu, [0x6e0]);
  const { vcpu, calls } = recordingVcpu();
  restoreVcpu(vcpu, saved);
  assert.ok(calls.indexOf('set msrs') > calls.indexOf('set lapic'), calls.join(', '));
  assert.ok(calls.indexOf('set sregs') < calls.indexOf('set msrs'), calls.join(', '));
  assert.ok(calls.indexOf('set xsave') < calls.indexOf('set xcrs'), calls.join(', '));
  assert.equal(calls.at(-1), 'set vcpu_events');
});

test('a vCPU state without one of its parts is refused by name', () => {
  const saved = saveVcpu(recordingVcpu().vcpu, []);
  delete saved.blobs.lapic;
  assert.throws(() => restoreVcpu(recordingVcpu().vcpu, saved), /lacks lapic/);
});
