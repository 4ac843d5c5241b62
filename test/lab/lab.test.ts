/**
 * The KVM lab proves itself: one L1 boot (QEMU TCG, emulated SVM) checks /dev/kvm, opens it from Node.js through
 * the native addon (KVM_GET_API_VERSION), and boots an L2 Debian cloud kernel with `qemu -enable-kvm -M microvm`
 * whose busybox init prints a marker with its CPU count and memory size. Slow (about a minute under TCG, minutes
 * on a busy machine; the test's own timeout also covers waiting for other lab runs): runs only with
 * TYPEVISOR_LAB=1 or in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildInitramfs, cacheDir, ensureKernels, repoRoot } from '../../src/lab/artifacts.js';
import { LabError, READY_MARKER, runInLab } from '../../src/lab/lab.js';
import { L1_PID_FILE, shellQuote } from '../../src/lab/qemu-args.js';

const labEnabled = process.env.TYPEVISOR_LAB === '1' || process.env.CI === 'true';
const skip = labEnabled ? false : 'KVM lab tests boot QEMU TCG (slow): set TYPEVISOR_LAB=1 (CI runs them)';

const L2_MARKER = 'TYPEVISOR-L2-UP';
// One vCPU, as in ARCHITECTURE.md's measurement: with two, L2 showed RCU stalls and 45 s soft lockups on a busy host.
const L2_CPUS = 1;
const L2_MEMORY_MIB = 256;

/**
 * An L2 boot normally reaches its marker in 10-20 s; give it 150 s. Nested SVM under TCG has been seen to hang an
 * L2 boot outright (a CI run sat past the test file's 600 s limit with no output), so one hung attempt is killed,
 * its console kept, and the boot tried once more; the test fails if the second attempt does not come up either.
 */
const L2_TIMEOUT_S = 150;
const L2_ATTEMPTS = 2;

/** Shell run inside L1: /dev/kvm, Node.js on KVM, then an L2 guest with timing of spawn -> marker. */
function l1Script(cloudKernel: string, l2Initramfs: string): string {
  const probe = [
    "import { createRequire } from 'node:module';",
    `const addon = createRequire(import.meta.url)(${JSON.stringify(join(repoRoot(), 'native/build/Release/typevisor_native.node'))});`,
    "const fd = addon.open('/dev/kvm', 2);",
    'const KVM_GET_API_VERSION = 0xae00;',
    "console.log('NODE_KVM_API_VERSION=' + addon.ioctl(fd, KVM_GET_API_VERSION));",
  ].join(' ');
  const qemu = [
    `timeout -s KILL ${L2_TIMEOUT_S} qemu-system-x86_64 -enable-kvm -M microvm -cpu host`,
    `-smp ${L2_CPUS} -m ${L2_MEMORY_MIB} -nographic -no-reboot`,
    `-kernel ${shellQuote(cloudKernel)} -initrd ${shellQuote(l2Initramfs)}`,
    `-append 'console=ttyS0 panic=-1 quiet'`,
  ].join(' ');
  return `
ls -l /dev/kvm
node --input-type=module -e ${shellQuote(probe)} || echo "NODE_KVM_FAILED=$?"
attempt=1
while [ $attempt -le ${L2_ATTEMPTS} ]; do
  start=$(date +%s%N)
  ${qemu} </dev/null 2>&1 | while IFS= read -r line; do
    case "$line" in
      *${L2_MARKER}*) echo "L2_MARKER_MS=$(( ($(date +%s%N) - start) / 1000000 ))" >>"$LAB_RESULTS/l2.txt" ;;
    esac
    printf '%s\n' "$line" >>"$LAB_RESULTS/l2-console.log"
  done
  echo "L2_EXIT_MS=$(( ($(date +%s%N) - start) / 1000000 ))" >>"$LAB_RESULTS/l2.txt"
  grep -aq "${L2_MARKER}" "$LAB_RESULTS/l2-console.log" && break
  echo "L2_ATTEMPT_FAILED=$attempt" >>"$LAB_RESULTS/l2.txt"
  mv "$LAB_RESULTS/l2-console.log" "$LAB_RESULTS/l2-console-attempt$attempt.log"
  attempt=$((attempt + 1))
done
grep -a "${L2_MARKER}" "$LAB_RESULTS/l2-console.log"
`;
}

test('KVM lab: L1 has /dev/kvm, Node.js opens it, QEMU -enable-kvm boots an L2 kernel to userspace', { skip, timeout: 3_600_000 }, async (t) => {
  const kernels = await ensureKernels();
  const l2Initramfs = await buildInitramfs({
    initSnippet: `echo "${L2_MARKER} cpus=$(nproc) $(grep MemTotal /proc/meminfo)"`,
  });
  const result = await runInLab({ script: l1Script(kernels.cloud.bzImage, l2Initramfs), timeoutMs: 420_000 });
  const l2Report = await readFile(join(result.resultsDir, 'l2.txt'), 'utf8').catch(() => '');
  const l2Console = await readFile(join(result.resultsDir, 'l2-console.log'), 'utf8').catch(() => '');
  const failedAttempt = await readFile(join(result.resultsDir, 'l2-console-attempt1.log'), 'utf8').catch(() => undefined);
  const context =
    `--- L1 output ---\n${result.output}\n--- L2 console ---\n${l2Console.slice(-4000)}` +
    (failedAttempt === undefined ? '' : `\n--- L2 console of the hung first attempt ---\n${failedAttempt.slice(-4000)}`);

  assert.equal(result.exitCode, 0, `L1 script failed (no L2 marker?)\n${context}`);
  assert.match(result.output, /^c\S+ 1 root root 10, 232 .* \/dev\/kvm$/m, context);
  assert.match(result.output, /^NODE_KVM_API_VERSION=12$/m, `KVM_GET_API_VERSION from Node.js\n${context}`);
  const marker = new RegExp(`${L2_MARKER} cpus=(\\d+) MemTotal:\\s+(\\d+) kB`).exec(l2Console);
  assert.ok(marker, `L2 marker missing\n${context}`);
  assert.equal(Number(marker[1]), L2_CPUS);
  const memTotalKiB = Number(marker[2]);
  assert.ok(memTotalKiB > 0.5 * L2_MEMORY_MIB * 1024 && memTotalKiB <= L2_MEMORY_MIB * 1024, `MemTotal ${memTotalKiB} kB`);
  // The report holds one L2_EXIT_MS per attempt: the last one belongs to the attempt that came up.
  const markerMs = Number(/L2_MARKER_MS=(\d+)/.exec(l2Report)?.[1]);
  const exitMs = Number([...l2Report.matchAll(/L2_EXIT_MS=(\d+)/g)].at(-1)?.[1]);
  assert.ok(markerMs > 0 && exitMs >= markerMs, `L2 timing report: ${l2Report}`);
  t.diagnostic(
    `KVM lab: queued ${result.queuedMs} ms behind other lab runs; L1 up in ${result.l1BootMs} ms, whole L1 run ${result.totalMs} ms; ` +
      `L2 (qemu -enable-kvm microvm, Debian cloud kernel) spawn->marker ${markerMs} ms, spawn->exit ${exitMs} ms` +
      (failedAttempt === undefined ? '' : `; the first L2 attempt hung (killed after ${L2_TIMEOUT_S} s), its console tail:\n${failedAttempt.slice(-1500)}`),
  );
});

test('KVM lab: an L1 that stops whole is killed once its heartbeat stands still, as a lab fault', { skip, timeout: 3_600_000 }, async () => {
  // A stopped QEMU is what a hung L1 looks like from the host: no console, no heartbeat, no exit.
  await mkdir(cacheDir('lab', 'runs'), { recursive: true });
  const resultsDir = realpathSync(await mkdtemp(join(cacheDir('lab', 'runs'), 'stall-')));
  let qemuStopped = false;
  let stopError: unknown;
  const stopQemuOnceBeating = async (): Promise<void> => {
    const deadline = performance.now() + 60_000;
    while (!(await readFile(join(resultsDir, 'heartbeat'), 'utf8').catch(() => '')).trim()) {
      if (performance.now() > deadline) throw new Error('L1 wrote no heartbeat within 60 s of saying it was ready');
      await sleep(200);
    }
    // QEMU's own pid file (-pidfile): the process to stop is QEMU, not the flock or sh in front of it.
    const pid = Number((await readFile(join(resultsDir, L1_PID_FILE), 'utf8')).trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `QEMU's pid file holds a pid: ${pid}`);
    process.kill(pid, 'SIGSTOP');
    qemuStopped = true;
  };
  let stopping: Promise<void> | undefined;
  let consoleSoFar = '';
  const started = performance.now();
  await assert.rejects(
    runInLab({
      script: 'sleep 600',
      // Only reached when stopping QEMU failed: the stall ends the run ~10 s after the stop.
      timeoutMs: 150_000,
      resultsDir,
      stallTimeoutMs: 10_000,
      labFaultRetries: 0,
      onConsole: (chunk) => {
        // The marker can arrive split across two chunks (seen under load): look at the console so far.
        consoleSoFar += chunk;
        if (consoleSoFar.includes(READY_MARKER)) {
          stopping ??= stopQemuOnceBeating().catch((error: unknown) => {
            stopError = error;
          });
        }
      },
    }),
    (error: unknown) => {
      if (stopError !== undefined) throw stopError;
      assert.ok(error instanceof LabError, String(error));
      assert.match(error.message, /L1 stopped: no heartbeat for 1\d s \(the script did not finish\)/);
      assert.match(error.labFault ?? '', /^L1 stopped: no heartbeat for 1\d s$/);
      return true;
    },
  );
  await stopping;
  assert.ok(qemuStopped);
  assert.match(await readFile(join(resultsDir, 'heartbeat'), 'utf8'), /^\d+\.\d+\n$/, 'L1 wrote its uptime');
  assert.ok(performance.now() - started < 120_000, `the stall ended the run in ${Math.round(performance.now() - started)} ms`);
  await rm(resultsDir, { recursive: true, force: true });
});
