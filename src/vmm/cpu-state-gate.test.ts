import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { CpuStateGate } from './cpu-state-gate.js';

/** A thread that waits at the gate (as the device thread does) and reports what it saw and when. */
function waiter(gate: CpuStateGate): { waiting: Promise<void>; seen: Promise<{ restored: boolean; waitedMs: number }> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.url).then(({ CpuStateGate }) => {
       parentPort.postMessage('waiting');
       const t0 = performance.now();
       const restored = new CpuStateGate(workerData.buffer).waitOpen();
       parentPort.postMessage({ restored, waitedMs: performance.now() - t0 });
     });`,
    { eval: true, workerData: { url: new URL('./cpu-state-gate.js', import.meta.url).href, buffer: gate.buffer } },
  );
  const waiting = new Promise<void>((resolve) => worker.once('message', () => resolve()));
  const seen = new Promise<{ restored: boolean; waitedMs: number }>((resolve, reject) => {
    worker.on('message', (m: 'waiting' | { restored: boolean; waitedMs: number }) => {
      if (m !== 'waiting') void worker.terminate().then(() => resolve(m));
    });
    worker.once('error', reject);
  });
  return { waiting, seen };
}

test('the device thread waits at the gate until the CPU state is restored', async () => {
  const gate = new CpuStateGate();
  const { waiting, seen } = waiter(gate);
  await waiting;
  await new Promise((r) => setTimeout(r, 200));
  gate.open(true);
  const { restored, waitedMs } = await seen;
  assert.equal(restored, true);
  // It said it was about to wait, then the gate stayed shut for 200 ms.
  assert.ok(waitedMs >= 100, `the thread went on after ${waitedMs} ms, before the gate opened`);
});

test('a failed CPU restore opens the gate as failed; a gate already open does not block', async () => {
  const failed = new CpuStateGate();
  const { waiting, seen } = waiter(failed);
  await waiting;
  failed.open(false);
  assert.equal((await seen).restored, false);
  const open = new CpuStateGate();
  open.open(true);
  assert.equal(open.waitOpen(), true);
});
