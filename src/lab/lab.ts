/**
 * The KVM lab: real KVM on a machine without /dev/kvm.
 *
 * QEMU TCG with `-cpu max` emulates AMD SVM, so a Debian kernel booted under it as "L1" gets a working /dev/kvm
 * from kvm-amd. L1 sees the host's root filesystem over 9p (read-only, under a tmpfs overlay so it is writable
 * and changes vanish with the run), the run's results directory and any `shareWritable` directory (writable,
 * at their host paths). It runs the given shell script there, with the repository at its real path, and powers
 * off. See src/lab/l1-init.sh for the L1 side and docs/lab.md for usage.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildInitramfs, cacheDir, ensureKernels, repoRoot } from './artifacts.js';
import { L1_PID_FILE, qemuLabArgs, shellQuote, type LabShare } from './qemu-args.js';

export interface LabOptions {
  /** Shell script (sh) to run inside L1, in a root identical to the host's; cwd is `cwd` (default: the repo). */
  readonly script: string;
  /** Whole-run limit (boot, script, power-off); the L1 is killed and a LabError thrown when exceeded. */
  readonly timeoutMs: number;
  /** L1 memory; default 4096 MiB. */
  readonly memoryMiB?: number;
  /** L1 vCPUs; default 2. */
  readonly cpus?: number;
  /** Host directories L1 may write to (mounted at the same paths; everything else is a throwaway overlay). */
  readonly shareWritable?: readonly string[];
  /** Working directory of the script inside L1; default: the repository root. */
  readonly cwd?: string;
  /** Extra environment for the script (PATH and HOME come from the host). */
  readonly env?: Readonly<Record<string, string>>;
  /** Where results go; default: a fresh directory under .cache/lab/runs/. */
  readonly resultsDir?: string;
  /** Boot L1 from the ELF vmlinux through PVH (default; ~4 s faster under TCG) or from the bzImage. */
  readonly l1Kernel?: 'vmlinux' | 'bzImage';
  /** Extra L1 kernel command-line arguments. */
  readonly kernelArgs?: string;
  /** Run L1s one at a time on this host (a file lock under .cache/lab); default true. `timeoutMs` starts once it is held. */
  readonly exclusive?: boolean;
  /** How long to wait for other lab runs when `exclusive`; default 30 minutes. */
  readonly queueTimeoutMs?: number;
  /** Called with each chunk of L1's console output as it arrives (e.g. process.stdout.write for live logs). */
  readonly onConsole?: (chunk: string) => void;
  /**
   * Runs to try again when L1's own kernel fails under the script (a soft lockup or panic in L1, see LAB_FAULT):
   * default 1. The script runs again from the start in a fresh L1, so it must not depend on a previous attempt.
   */
  readonly labFaultRetries?: number;
  /**
   * L1 writes a heartbeat to the results share every 5 s while the script runs; a run whose heartbeat stops for this
   * long is killed as a lab fault (an L1 that hangs whole prints nothing else). Default 90 s.
   */
  readonly stallTimeoutMs?: number;
}

export interface LabResult {
  /** The script's exit status inside L1. */
  readonly exitCode: number;
  /** The script's output (stdout and stderr), from the results share. */
  readonly output: string;
  /** L1's whole serial console: kernel messages, init messages and the script's output. */
  readonly console: string;
  /** Host directory the script could write to at the same path (`$LAB_RESULTS` inside). */
  readonly resultsDir: string;
  /** From QEMU start (after any queueing) to L1 ready to run the script (modules loaded, shares mounted, /dev/kvm present). */
  readonly l1BootMs: number;
  /** From QEMU start to QEMU exit. */
  readonly totalMs: number;
  /** Time spent waiting for other lab runs (see `exclusive`) before this one started. */
  readonly queuedMs: number;
}

/** The lab could not give an answer: L1 did not come up, had no /dev/kvm, or the run timed out. */
export class LabError extends Error {
  constructor(
    message: string,
    readonly console: string,
    readonly resultsDir: string,
    private readonly stall?: string,
  ) {
    super(`${message}\n--- L1 console (last lines) ---\n${lastLines(console, 40)}`);
    this.name = 'LabError';
  }

  /** L1's kernel itself failed or stopped (not the script, not typevisor): what a retry in a fresh L1 is for. */
  get labFault(): string | undefined {
    return LAB_FAULT.exec(this.console)?.[0] ?? this.stall;
  }
}

/**
 * L1 kernel failures that no program inside it can cause: a CPU stuck in L1's kernel (with softlockup_panic=1 the
 * kernel then panics) or another panic of L1's kernel.
 */
export const LAB_FAULT = /watchdog: BUG: soft lockup[^\r\n]*|Kernel panic - not syncing[^\r\n]*/;

/**
 * The modules L1's initramfs loads: virtio PCI + 9p for the shares, overlay for a writable root, and KVM. Every
 * insmod costs seconds under TCG (kvm alone 3-6 s), so others (tun, bridge, vhost_net, ext4...) are left to
 * `modprobe` in the script: the L1 kernel's modules are at /lib/modules/$(uname -r) there.
 */
export const L1_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay', 'kvm_amd'] as const;

export const READY_MARKER = 'TYPEVISOR-LAB-READY';
const HEARTBEAT_FILE = 'heartbeat';
const DEFAULT_STALL_TIMEOUT_MS = 90_000;
const HEARTBEAT_POLL_MS = 5_000;
const ERROR_MARKER = /TYPEVISOR-LAB-ERROR: ([^\r\n]*)/;
const EXIT_MARKER = /TYPEVISOR-LAB-EXIT=(\d+)/;
const RUNS_KEPT = 20;

function lastLines(text: string, count: number): string {
  return text.split(/\r?\n/).slice(-count).join('\n');
}

/** Build (cached) the L1 initramfs for the generic kernel. */
export async function labInitramfs(): Promise<string> {
  const kernels = await ensureKernels();
  return buildInitramfs({
    initSnippet: join(repoRoot(), 'src', 'lab', 'l1-init.sh'),
    modulesFrom: kernels.generic.modulesDir,
    modules: [...L1_MODULES],
  });
}

/** Keep the newest runs under .cache/lab/runs; results of older runs are deleted. */
async function pruneRuns(runsDir: string): Promise<void> {
  const entries = (await readdir(runsDir)).sort();
  for (const stale of entries.slice(0, Math.max(0, entries.length - RUNS_KEPT))) {
    await rm(join(runsDir, stale), { recursive: true, force: true });
  }
}

async function prepareResultsDir(options: LabOptions): Promise<string> {
  if (options.resultsDir) {
    const dir = resolve(options.resultsDir);
    await mkdir(dir, { recursive: true });
    return realpathSync(dir);
  }
  const runsDir = cacheDir('lab', 'runs');
  await mkdir(runsDir, { recursive: true });
  await pruneRuns(runsDir);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return realpathSync(await mkdtemp(join(runsDir, `${stamp}-`)));
}

function validatePath(path: string, what: string): void {
  // Paths travel through kernel mount options and a space-separated list in sh: keep them plain.
  if (!path.startsWith('/') || /[\s:'"\\$`]/.test(path)) {
    throw new Error(`lab: ${what} must be an absolute path without spaces, quotes or ':': ${JSON.stringify(path)}`);
  }
}

/**
 * Boot L1 under QEMU TCG, run `script` inside with real /dev/kvm, and return its exit code and output. A run that
 * ends in an L1 kernel fault (LabError.labFault) is tried again in a fresh L1, `labFaultRetries` times (default 1).
 */
export async function runInLab(options: LabOptions): Promise<LabResult> {
  for (let retriesLeft = options.labFaultRetries ?? 1; ; retriesLeft--) {
    try {
      return await runInLabOnce(options);
    } catch (error) {
      const fault = error instanceof LabError ? error.labFault : undefined;
      if (fault === undefined || retriesLeft <= 0) throw error;
      process.stderr.write(`lab: L1's kernel failed (${fault.trim()}); running the script again in a fresh L1\n`);
    }
  }
}

async function runInLabOnce(options: LabOptions): Promise<LabResult> {
  if (!(options.timeoutMs > 0)) throw new Error(`lab: timeoutMs must be positive, got ${options.timeoutMs}`);
  const cpus = options.cpus ?? 2;
  const memoryMiB = options.memoryMiB ?? 4096;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new Error(`lab: cpus must be 1..64, got ${cpus}`);
  if (!Number.isInteger(memoryMiB) || memoryMiB < 256) throw new Error(`lab: memoryMiB must be >= 256, got ${memoryMiB}`);
  // Real paths: L1's init mounts shares under its new root before switching to it, where an absolute symlink
  // (a worktree's .cache -> /work/main/.cache) would point into the initramfs instead.
  const writable = (options.shareWritable ?? []).map((path) => (existsSync(path) ? realpathSync(path) : resolve(path)));
  for (const path of writable) {
    validatePath(path, 'shareWritable entry');
    if (!existsSync(path) || !statSync(path).isDirectory()) throw new Error(`lab: shareWritable: not a directory: ${path}`);
  }
  const cwd = resolve(options.cwd ?? repoRoot());
  for (const name of Object.keys(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`lab: invalid environment variable name: ${name}`);
  }

  const kernels = await ensureKernels();
  const initramfs = await labInitramfs();
  const resultsDir = await prepareResultsDir(options);
  await mkdir(cacheDir('lab'), { recursive: true });
  validatePath(resultsDir, 'the results directory');
  const shares: LabShare[] = writable.map((path, index) => ({ tag: `rw${index}`, path }));

  await writeFile(
    join(resultsDir, 'lab-env.sh'),
    [
      `LAB_RESULTS_PATH=${shellQuote(resultsDir)}`,
      `LAB_WRITABLE_SHARES=${shellQuote(shares.map(({ tag, path }) => `${tag}:${path}`).join(' '))}`,
      // Real path: L1 bind-mounts it before switching root, where a symlinked .cache (a worktree) would dangle.
      `LAB_MODULES_PATH=${shellQuote(realpathSync(kernels.generic.modulesDir))}`,
      '',
    ].join('\n'),
  );
  const environment: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    TERM: 'dumb',
    TYPEVISOR_LAB_L1: '1',
    LAB_RESULTS: resultsDir,
    ...options.env,
  };
  await writeFile(
    join(resultsDir, 'script.sh'),
    [
      '# Written by src/lab/lab.ts: the environment, the working directory, then the caller\'s script.',
      ...Object.entries(environment).map(([name, value]) => `export ${name}=${shellQuote(value)}`),
      `cd ${shellQuote(cwd)} || exit 125`,
      options.script,
      '',
    ].join('\n'),
  );
  for (const stale of ['exit-code', 'output.log', 'lab-error', HEARTBEAT_FILE, L1_PID_FILE]) await rm(join(resultsDir, stale), { force: true });

  const args = qemuLabArgs({
    kernel: options.l1Kernel === 'bzImage' ? kernels.generic.bzImage : kernels.generic.vmlinux,
    initramfs,
    cpus,
    memoryMiB,
    resultsDir,
    shares,
    kernelArgs: options.kernelArgs ?? '',
  });
  const run = await runQemu(args, options, resultsDir);
  return interpretLabRun(run, resultsDir, options.timeoutMs);
}

/**
 * Turn a finished L1 run into a result, or a LabError when the lab itself failed. The exit code comes from the
 * results share (written by L1's init), or else from the serial marker; a run with neither never passes.
 */
export async function interpretLabRun(run: QemuRun, resultsDir: string, timeoutMs: number): Promise<LabResult> {
  const exitCodeText = await readFile(join(resultsDir, 'exit-code'), 'utf8').catch(() => undefined);
  const labError = await readFile(join(resultsDir, 'lab-error'), 'utf8').catch(() => undefined);
  const output = await readFile(join(resultsDir, 'output.log'), 'utf8').catch(() => '');
  const fail = (message: string, stall?: string): never => {
    throw new LabError(`lab: ${message}`, run.console, resultsDir, stall);
  };
  if (labError !== undefined) fail(`L1 failed: ${labError.trim()}`);
  // The script's own output is on the console too: markers count only when the results share has no answer.
  let exitCodeSource = exitCodeText?.trim();
  if (exitCodeSource === undefined) {
    const errorOnConsole = ERROR_MARKER.exec(run.console)?.[1];
    if (errorOnConsole !== undefined) fail(`L1 failed: ${errorOnConsole.trim()}`);
    if (run.stalledForMs !== undefined) {
      const stall = `L1 stopped: no heartbeat for ${Math.round(run.stalledForMs / 1000)} s`;
      fail(`${stall} (the script did not finish)`, stall);
    }
    if (run.timedOut) {
      fail(`timed out after ${timeoutMs} ms (${run.readyAtMs === undefined ? 'L1 did not come up' : 'the script did not finish'})`);
    }
    if (run.readyAtMs === undefined) fail(`L1 did not come up (QEMU exited with ${run.qemuExit} before ${READY_MARKER})`);
    exitCodeSource = EXIT_MARKER.exec(run.console)?.[1];
  }
  const exitCode = Number.parseInt(exitCodeSource ?? '', 10);
  if (!/^\d+$/.test(exitCodeSource ?? '') || !Number.isInteger(exitCode)) {
    fail(`the script's exit code never came back (QEMU exited with ${run.qemuExit})`);
  }
  return {
    exitCode,
    output,
    console: run.console,
    resultsDir,
    l1BootMs: run.readyAtMs ?? run.totalMs,
    totalMs: run.totalMs,
    queuedMs: run.queuedMs,
  };
}

/** What the host saw of one L1 run. */
export interface QemuRun {
  console: string;
  readyAtMs: number | undefined;
  totalMs: number;
  queuedMs: number;
  timedOut: boolean;
  /** Set when L1 was killed because its heartbeat stopped (see LabOptions.stallTimeoutMs): for how long. */
  stalledForMs?: number;
  qemuExit: string;
}

const CONSOLE_LIMIT = 8 * 1024 * 1024;
const LOCKED_MARKER = 'TYPEVISOR-LAB-LOCKED';
const DEFAULT_QUEUE_TIMEOUT_MS = 30 * 60 * 1000;
/**
 * On CI the suite runs alone and its lab files one after another: a wait for the lock there means an L1 that
 * outlived its test, and should fail the test with that message well before the runner's per-file limit.
 */
const CI_QUEUE_TIMEOUT_MS = 2 * 60 * 1000;
const CONSOLE_KEPT_HEAD = 256 * 1024;

/**
 * Spawn QEMU, by default behind a host-wide lock so that L1s run one at a time (each takes two busy host CPUs
 * under TCG). The run's clock and `timeoutMs` start when the lock is held; QEMU and the lock holder form their own
 * process group, which is killed on timeout or when this process exits.
 */
/**
 * Process groups of the L1s this process runs. They are detached (their own group), so they would outlive this
 * process — and keep holding the lab lock — when it is ended by a signal: the test runner's file timeout sends
 * SIGTERM, which skips 'exit' listeners. One handler per signal kills them all, then lets the signal do its work.
 */
const liveGroups = new Set<number>();
let signalHandlersInstalled = false;
function killProcessGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
function killLiveGroups(): void {
  for (const pid of liveGroups) killProcessGroup(pid);
  liveGroups.clear();
}
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  process.once('exit', killLiveGroups);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killLiveGroups();
      process.kill(process.pid, signal);
    });
  }
}

function runQemu(args: readonly string[], options: LabOptions, resultsDir: string): Promise<QemuRun> {
  const announceLocked = ['sh', '-c', `echo ${LOCKED_MARKER} >&2; exec "$0" "$@"`, 'qemu-system-x86_64', ...args];
  const command = options.exclusive === false ? announceLocked : ['flock', cacheDir('lab', 'l1.lock'), ...announceLocked];
  const queueTimeoutMs = options.queueTimeoutMs ?? (process.env['CI'] === 'true' ? CI_QUEUE_TIMEOUT_MS : DEFAULT_QUEUE_TIMEOUT_MS);
  return new Promise((resolvePromise, reject) => {
    const spawned = performance.now();
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = (): void => {
      if (child.pid !== undefined) killProcessGroup(child.pid);
    };
    if (child.pid !== undefined) trackGroup(child.pid);
    let started: number | undefined;
    let consoleText = '';
    let pendingStderr = '';
    let readyAtMs: number | undefined;
    let timedOut: 'queue' | 'run' | undefined;
    let runTimer: NodeJS.Timeout | undefined;
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let stalledForMs: number | undefined;
    const queueTimer = setTimeout(() => {
      timedOut = 'queue';
      killGroup();
    }, queueTimeoutMs);
    const onLocked = (): void => {
      started = performance.now();
      clearTimeout(queueTimer);
      runTimer = setTimeout(() => {
        timedOut = 'run';
        killGroup();
      }, options.timeoutMs);
    };
    const collect = (text: string): void => {
      options.onConsole?.(text);
      consoleText += text;
      if (readyAtMs === undefined && started !== undefined && consoleText.includes(READY_MARKER)) {
        readyAtMs = Math.round(performance.now() - started);
        heartbeatTimer = watchHeartbeat(join(resultsDir, HEARTBEAT_FILE), options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, (ms) => {
          stalledForMs = ms;
          killGroup();
        });
      }
      // A runaway guest must not exhaust the host's memory: keep the boot messages and the newest output.
      if (consoleText.length > CONSOLE_LIMIT) {
        consoleText = `${consoleText.slice(0, CONSOLE_KEPT_HEAD)}\n[... console output cut ...]\n${consoleText.slice(-CONSOLE_LIMIT / 2)}`;
      }
    };
    child.stdout.on('data', (chunk: Buffer) => collect(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      if (started !== undefined) return collect(chunk.toString('utf8'));
      pendingStderr += chunk.toString('utf8');
      const marker = pendingStderr.indexOf(`${LOCKED_MARKER}\n`);
      if (marker < 0) return;
      onLocked();
      collect(pendingStderr.slice(0, marker) + pendingStderr.slice(marker + LOCKED_MARKER.length + 1));
    });
    const finish = (): void => {
      clearTimeout(queueTimer);
      clearTimeout(runTimer);
      clearInterval(heartbeatTimer);
      if (child.pid !== undefined) liveGroups.delete(child.pid);
    };
    child.on('error', (error) => {
      finish();
      reject(new LabError(`lab: cannot start ${command[0]}: ${error.message}`, consoleText, resultsDir));
    });
    child.on('close', (code, signal) => {
      finish();
      if (timedOut === 'queue') {
        reject(new LabError(`lab: waited ${queueTimeoutMs} ms for other lab runs to finish (lock ${cacheDir('lab', 'l1.lock')})`, consoleText, resultsDir));
        return;
      }
      const now = performance.now();
      resolvePromise({
        console: consoleText + pendingStderr.replace(`${LOCKED_MARKER}\n`, ''),
        readyAtMs,
        totalMs: Math.round(now - (started ?? now)),
        queuedMs: Math.round((started ?? now) - spawned),
        timedOut: timedOut === 'run',
        ...(stalledForMs === undefined ? {} : { stalledForMs }),
        qemuExit: signal ? `signal ${signal}` : `status ${code}`,
      });
    });
  });
}

/**
 * Polls L1's heartbeat file (its uptime, rewritten every few seconds by l1-init.sh) and calls `onStall` once when
 * it has not changed for `stallTimeoutMs`. The clock starts at the call, i.e. when L1 said it was ready.
 */
export function watchHeartbeat(
  path: string,
  stallTimeoutMs: number,
  onStall: (stalledForMs: number) => void,
  pollMs = HEARTBEAT_POLL_MS,
): NodeJS.Timeout {
  let lastBeat = '';
  let lastChange = performance.now();
  const timer = setInterval(() => {
    const beat = readFileSyncOrEmpty(path);
    const now = performance.now();
    if (beat !== lastBeat) {
      lastBeat = beat;
      lastChange = now;
    } else if (now - lastChange >= stallTimeoutMs) {
      clearInterval(timer);
      onStall(now - lastChange);
    }
  }, pollMs);
  return timer;
}

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
