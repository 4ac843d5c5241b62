/**
 * Which L2 guest deaths the lab scenarios put down to the lab (guestLabFault), and which they do not; how the
 * scenario runner retries those and resumes after an L1 that stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestLabFault } from './guest-lab-fault.js';
import { runScenarios } from './lab-scenarios.js';
import { runScenarios as runRunScenarios, type Scenario, type ScenarioResult } from './scenarios.js';

test('a triple fault, a guest soft lockup or a hang at boot is a lab fault; other failures are not', () => {
  assert.equal(
    guestLabFault({ error: 'timed out', stdout: 'TVIO: start\n', stderr: 'typevisor: guest reset (triple fault (KVM_EXIT_SHUTDOWN)); exiting\n' }),
    'guest reset (triple fault (KVM_EXIT_SHUTDOWN))',
  );
  assert.equal(
    guestLabFault({ error: 'locked up', stdout: '[   41.48] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]\r\n', stderr: '' }),
    'watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]',
  );
  assert.equal(guestLabFault({ error: 'timed out waiting for /TVIO: done/', stdout: 'TVIO: start\n', stderr: '' }), undefined);
  assert.equal(
    guestLabFault({ error: 'the guest hung at boot: no /TVS: ready/ within 150 s\ntimed out waiting for /TVS: ready/ (exit null)', stdout: '', stderr: '' }),
    'the guest hung at boot: no /TVS: ready/ within 150 s',
  );
  assert.equal(guestLabFault({ error: 'x', stdout: '', stderr: 'typevisor: error: vCPU 0 stopped on KVM_EXIT_INTERNAL_ERROR' }), undefined);
  assert.equal(guestLabFault({ stdout: 'TVIO: done\n', stderr: '' }), undefined);
});

test('runScenarios keeps what an earlier L1 finished, retries a guest lab fault once, and writes the record whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-scenarios-'));
  try {
    const outPath = join(dir, 'record.json');
    writeFileSync(outPath, JSON.stringify({ done: { result: 'from the first L1', durationMs: 5 } }));
    const calls: string[] = [];
    let faultyRuns = 0;
    const record = await runScenarios(
      [
        { name: 'done', run: async () => (calls.push('done'), { result: 'again' }), retryOnLabFault: false },
        { name: 'throws', run: async () => (calls.push('throws'), Promise.reject(new Error('boom'))), retryOnLabFault: true },
        {
          name: 'faulty',
          run: async () => {
            calls.push('faulty');
            faultyRuns++;
            return faultyRuns === 1 ? { error: 'timed out', stderr: 'typevisor: guest reset (triple fault (KVM_EXIT_SHUTDOWN)); exiting\n' } : { ok: true };
          },
          retryOnLabFault: true,
        },
        { name: 'skipped', run: async () => (calls.push('skipped'), {}), retryOnLabFault: false },
      ],
      outPath,
      ['done', 'throws', 'faulty'],
    );
    assert.deepEqual(calls, ['throws', 'faulty', 'faulty']);
    assert.equal(record['done']!['result'], 'from the first L1');
    assert.match(String(record['throws']!['error']), /Error: boom/);
    assert.equal(record['throws']!['labFault'], undefined, 'an error that is not a guest lab fault runs once');
    assert.equal(record['faulty']!['ok'], true);
    assert.deepEqual(record['faulty']!['labFault'], { fault: 'guest reset (triple fault (KVM_EXIT_SHUTDOWN))', error: 'timed out', stderr: 'typevisor: guest reset (triple fault (KVM_EXIT_SHUTDOWN)); exiting\n' });
    assert.equal(record['skipped'], undefined);
    assert.deepEqual(JSON.parse(readFileSync(outPath, 'utf8')), record);
    assert.equal(existsSync(`${outPath}.partial`), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('typevisor run scenarios: in the lab a triple fault runs the scenario once more; a reset on purpose does not', async () => {
  const result = (s: Scenario, stderr: string): ScenarioResult => ({
    name: s.name, status: 0, signal: null, stdout: '', stderr, durationMs: 1, timedOut: false,
  });
  const runs: string[] = [];
  const fake = async (s: Scenario): Promise<ScenarioResult> => {
    runs.push(s.name);
    if (s.name === 'faulty' && runs.filter((n) => n === 'faulty').length === 1) {
      return result(s, 'typevisor: guest reset (triple fault (KVM_EXIT_SHUTDOWN)); exiting\n');
    }
    return result(s, s.name === 'reset' ? 'typevisor: guest reset (i8042 reset line); exiting\n' : '');
  };
  const list: Scenario[] = ['faulty', 'reset', 'fine'].map((name) => ({ name, args: [], timeoutMs: 1 }));
  const inLab = await runRunScenarios(list, undefined, true, fake);
  assert.deepEqual(runs, ['faulty', 'faulty', 'reset', 'fine']);
  assert.equal(inLab[0]!.labFault?.fault, 'guest reset (triple fault (KVM_EXIT_SHUTDOWN))');
  assert.equal(inLab[0]!.stderr, '', 'the second attempt is the result');
  assert.equal(inLab[1]!.labFault, undefined);
  runs.length = 0;
  const onRealKvm = await runRunScenarios(list, undefined, false, fake);
  assert.deepEqual(runs, ['faulty', 'reset', 'fine'], 'outside the lab nothing runs twice');
  assert.match(onRealKvm[0]!.stderr, /triple fault/);
});
