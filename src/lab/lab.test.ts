import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpretLabRun, LabError, runInLab, watchHeartbeat, type QemuRun } from './lab.js';

async function withResults(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-results-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const finished: QemuRun = {
  console: 'boot...\nTYPEVISOR-LAB-READY\nscript output\nTYPEVISOR-LAB-EXIT=7\n',
  readyAtMs: 3200,
  totalMs: 9000,
  queuedMs: 0,
  timedOut: false,
  qemuExit: 'status 0',
};

test('interpretLabRun: exit code and output come from the results share', async () => {
  await withResults({ 'exit-code': '7\n', 'output.log': 'script output\n' }, async (dir) => {
    const result = await interpretLabRun(finished, dir, 60_000);
    assert.equal(result.exitCode, 7);
    assert.equal(result.output, 'script output\n');
    assert.equal(result.l1BootMs, 3200);
    assert.equal(result.totalMs, 9000);
    assert.equal(result.resultsDir, dir);
  });
});

test('interpretLabRun: falls back to the serial exit marker when the share has no exit code', async () => {
  await withResults({}, async (dir) => {
    assert.equal((await interpretLabRun(finished, dir, 60_000)).exitCode, 7);
  });
});

test('interpretLabRun: L1 errors (e.g. no /dev/kvm) fail loudly, from the share or the console', async () => {
  await withResults({ 'lab-error': '/dev/kvm is missing in L1\n' }, async (dir) => {
    await assert.rejects(interpretLabRun(finished, dir, 60_000), (error: unknown) => {
      assert.ok(error instanceof LabError);
      assert.match(error.message, /L1 failed: \/dev\/kvm is missing in L1/);
      assert.match(error.message, /L1 console/);
      return true;
    });
  });
  const noKvm = { ...finished, console: 'TYPEVISOR-LAB-ERROR: /dev/kvm is missing in L1 (CPUs with the svm flag: 0)\n' };
  await withResults({}, async (dir) => {
    await assert.rejects(interpretLabRun(noKvm, dir, 60_000), /L1 failed: \/dev\/kvm is missing in L1 \(CPUs with the svm flag: 0\)/);
  });
});

test('interpretLabRun: a script that prints the error marker still returns its exit code', async () => {
  const noisy = { ...finished, console: `${finished.console}TYPEVISOR-LAB-ERROR: printed by a test\n` };
  await withResults({ 'exit-code': '0\n' }, async (dir) => {
    assert.equal((await interpretLabRun(noisy, dir, 60_000)).exitCode, 0);
  });
});

test('interpretLabRun: no boot, a timeout, or a lost exit code never pass', async () => {
  await withResults({}, async (dir) => {
    const neverUp = { ...finished, console: 'Kernel panic - not syncing\n', readyAtMs: undefined, qemuExit: 'status 0' };
    await assert.rejects(interpretLabRun(neverUp, dir, 60_000), /L1 did not come up \(QEMU exited with status 0/);
    const stuck = { ...finished, console: 'TYPEVISOR-LAB-READY\n', timedOut: true, qemuExit: 'signal SIGKILL' };
    await assert.rejects(interpretLabRun(stuck, dir, 1234), /timed out after 1234 ms \(the script did not finish\)/);
    const stuckBooting = { ...stuck, readyAtMs: undefined };
    await assert.rejects(interpretLabRun(stuckBooting, dir, 1234), /timed out after 1234 ms \(L1 did not come up\)/);
    const lost = { ...finished, console: 'TYPEVISOR-LAB-READY\n' };
    await assert.rejects(interpretLabRun(lost, dir, 60_000), /exit code never came back/);
  });
  await withResults({ 'exit-code': 'garbage' }, async (dir) => {
    await assert.rejects(interpretLabRun(finished, dir, 60_000), /exit code never came back/);
  });
});

test('runInLab: bad options are refused before anything boots', async () => {
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 0 }), /timeoutMs must be positive/);
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 1000, cpus: 0 }), /cpus must be 1\.\.64/);
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 1000, memoryMiB: 100 }), /memoryMiB must be >= 256/);
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 1000, shareWritable: ['/no/such/dir'] }), /not a directory: \/no\/such\/dir/);
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 1000, shareWritable: ['/tmp/a b'] }), /without spaces/);
  await assert.rejects(runInLab({ script: 'true', timeoutMs: 1000, env: { 'BAD-NAME': 'x' } }), /invalid environment variable name: BAD-NAME/);
});

test('a soft lockup, panic or stopped heartbeat of L1 itself is a lab fault (retried in a fresh L1); a failing script is not', async () => {
  const lockedUp: QemuRun = {
    ...finished,
    console: 'TYPEVISOR-LAB-READY\n[lab-scenarios +25.1s] done\n[   56.822081] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [node:154]\n[   57.1] Kernel panic - not syncing: softlockup: hung tasks\n',
    qemuExit: 'status 0',
  };
  await withResults({}, async (dir) => {
    await assert.rejects(interpretLabRun(lockedUp, dir, 60_000), (error: unknown) => {
      assert.ok(error instanceof LabError);
      assert.match(error.labFault ?? '', /^watchdog: BUG: soft lockup - CPU#1 stuck for 26s! \[node:154\]$/);
      return true;
    });
    // A whole-L1 hang prints nothing: the host saw the heartbeat stop and killed QEMU.
    const stalled = { ...finished, console: 'TYPEVISOR-LAB-READY\n[lab-scenarios +65.1s] starting\n', stalledForMs: 92_400, qemuExit: 'signal SIGKILL' };
    await assert.rejects(interpretLabRun(stalled, dir, 420_000), (error: unknown) => {
      assert.ok(error instanceof LabError);
      assert.match(error.message, /L1 stopped: no heartbeat for 92 s \(the script did not finish\)/);
      assert.equal(error.labFault, 'L1 stopped: no heartbeat for 92 s');
      return true;
    });
    const scriptFailed = { ...finished, console: 'TYPEVISOR-LAB-READY\nsome error\n', timedOut: true };
    await assert.rejects(interpretLabRun(scriptFailed, dir, 60_000), (error: unknown) => {
      assert.ok(error instanceof LabError);
      assert.equal(error.labFault, undefined);
      return true;
    });
  });
});

test('watchHeartbeat: quiet while the heartbeat changes, one call once it has stood still for the limit', async () => {
  await withResults({}, async (dir) => {
    const file = join(dir, 'heartbeat');
    let uptime = 0;
    const beating = setInterval(() => writeFileSync(file, String(++uptime)), 20);
    const stalls: { stalledForMs: number; at: number }[] = [];
    const watcher = watchHeartbeat(file, 150, (stalledForMs) => stalls.push({ stalledForMs, at: performance.now() }), 10);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(stalls.length, 0, 'a changing heartbeat is not a stall');
    clearInterval(beating);
    const stoppedAt = performance.now();
    await new Promise((r) => setTimeout(r, 400));
    clearInterval(watcher);
    assert.equal(stalls.length, 1);
    assert.ok(stalls[0]!.stalledForMs >= 150, `stalled for ${stalls[0]!.stalledForMs} ms`);
    // The last beat came at most one beat (20 ms) before the stop.
    assert.ok(stalls[0]!.at - stoppedAt >= 125, `reported ${stalls[0]!.at - stoppedAt} ms after the heartbeat stopped`);
  });
});
