import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DevicePoller, ExitKind, ExitMailbox, exitSpinFromEnv } from './exit-mailbox.js';

test('a vCPU rings the doorbell only while the device thread is not polling the slots', () => {
  const buffer = ExitMailbox.allocate(2);
  const vcpu0 = new ExitMailbox(buffer, 0);
  const vcpu1 = new ExitMailbox(buffer, 1);
  const poller = new DevicePoller(buffer, 1000);
  assert.equal(vcpu0.post(ExitKind.PioWrite, 0x3f8, 1, 1), true, 'device asleep: ring');
  assert.ok(vcpu0.pending());
  vcpu0.complete();
  vcpu0.awaitDone();
  poller.served();
  assert.ok(poller.active);
  assert.equal(vcpu1.post(ExitKind.MmioRead, 0xfebf_0000, 4, 1), false, 'device polling: no ring');
  assert.equal(vcpu1.address, 0xfebf_0000);
  poller.stop();
  assert.equal(vcpu0.post(ExitKind.PioRead, 0x3fd, 1, 1), true, 'polling stopped: ring again');
});

test('polling ends once spinMicros pass without an exit; 0 turns it off', async () => {
  const buffer = ExitMailbox.allocate(1);
  const poller = new DevicePoller(buffer, 2000);
  poller.served();
  assert.equal(poller.expired(), false);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(poller.expired(), true);
  const off = new DevicePoller(buffer, 0);
  off.served();
  assert.equal(off.active, false);
});

test('a vCPU that polls for its answer still sleeps when the answer is late', async () => {
  const buffer = ExitMailbox.allocate(1);
  const m = new ExitMailbox(buffer, 0);
  m.post(ExitKind.PioRead, 0x60, 1, 1);
  // Answered 20 ms later by another thread, long after the 100 µs of polling: awaitDone must wait for it.
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(
    `const { workerData } = require('node:worker_threads'); const w = new Int32Array(workerData, 0, 8);
     setTimeout(() => { Atomics.store(w, 0, 2); Atomics.notify(w, 0); }, 20);`,
    { eval: true, workerData: buffer },
  );
  const started = performance.now();
  m.awaitDone(100);
  assert.ok(performance.now() - started >= 10, 'returned before the answer');
  assert.equal(m.pending(), false);
  await w.terminate();
});

test('TYPEVISOR_EXIT_SPIN_US="DEVICE,VCPU" sets the polling times; bad values keep the defaults', () => {
  assert.deepEqual(exitSpinFromEnv('0,0'), { deviceMicros: 0, vcpuMicros: 0 });
  assert.deepEqual(exitSpinFromEnv('500,50'), { deviceMicros: 500, vcpuMicros: 50 });
  const d = exitSpinFromEnv(undefined);
  assert.deepEqual(exitSpinFromEnv('x,-1'), d);
});
