/**
 * The qemu engine: QEMU driven over QMP, one detached process per VM.
 *
 * Processes are spawned in their own session (`detached`) and unref'ed so they
 * outlive the daemon, even a kill -9 of it; `attach()` finds them again from the
 * pid file in the run directory, checked against /proc/[pid]/cmdline.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { Engine, EngineAvailability, ExitReason, RunningVm, VmLaunchSpec } from '../engine.js';
import type { HostFlavour } from '../host-flavour.js';
import { identify, isAlive, readCmdline, type ProcessIdentity } from '../proc.js';
import { buildQemuArgs, isOurQemu, qemuRunPaths, validateLaunchSpec, type QemuAccelerator, type QemuRunPaths } from './command-line.js';
import { QmpClient } from './qmp.js';
import { QemuVm } from './qemu-vm.js';

const execFileAsync = promisify(execFile);

/** A console log above this size is rotated to console.log.1 when the VM starts. */
const CONSOLE_LOG_ROTATE_BYTES = 4 * 1024 * 1024;
const QMP_STARTUP_TIMEOUT_MS = 15_000;
const QMP_RETRY_MS = 20;
const LINUX_POWER_OFF_MESSAGE = 'reboot: Power down';

/** The last `bytes` of a file as text ('' when it is missing). */
async function readTail(path: string, bytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('latin1');
  } finally {
    await handle.close();
  }
}

export interface QemuEngineOptions {
  log: Logger;
  /** Decides the accelerator: KVM on VMX/SVM hosts, TCG elsewhere. */
  hostFlavour: () => Promise<HostFlavour>;
  /** `qemu-system-x86_64` from PATH unless given. */
  binary?: string;
}

export class QemuEngine implements Engine {
  readonly name = 'qemu' as const;
  private readonly binary: string;
  /** `--version` is asked once per engine object. */
  private version: Promise<string | Error> | null = null;

  constructor(private readonly options: QemuEngineOptions) {
    this.binary = options.binary ?? 'qemu-system-x86_64';
  }

  async accelerator(): Promise<QemuAccelerator> {
    return (await this.options.hostFlavour()).hardwareKvm ? 'kvm' : 'tcg';
  }

  async availability(): Promise<EngineAvailability> {
    this.version ??= execFileAsync(this.binary, ['--version'], { timeout: 10_000 }).then(
      ({ stdout }) => /QEMU emulator version (\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0]!.trim(),
      (error: Error) => new Error(`${this.binary} cannot run (${error.message.split('\n')[0]}): install qemu-system-x86`),
    );
    const version = await this.version;
    if (version instanceof Error) {
      this.version = null; // try again next time: it may get installed
      return { available: false, reason: version.message };
    }
    const flavour = await this.options.hostFlavour();
    const how = flavour.hardwareKvm
      ? `with KVM acceleration (${flavour.description})`
      : `with TCG software emulation (${flavour.description})`;
    return { available: true, reason: `QEMU ${version} ${how}` };
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    const accelerator = await this.accelerator();
    const args = buildQemuArgs(spec, { accelerator });
    const paths = qemuRunPaths(spec.runDir);
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    const running = await this.findProcess(paths);
    if (running !== null) throw new Error(`VM ${spec.name} is already running (qemu pid ${running.pid})`);
    await Promise.all([paths.qmpSocket, paths.consoleSocket, paths.pidFile].map((path) => rm(path, { force: true })));
    const consoleOffset = await this.prepareConsoleLog(paths);

    const stderrFd = openSync(paths.stderrLog, 'w');
    let child: ChildProcess;
    try {
      child = spawn(this.binary, args, { detached: true, stdio: ['ignore', stderrFd, stderrFd], cwd: spec.runDir });
    } finally {
      closeSync(stderrFd);
    }
    child.unref();
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (error) => resolve(error));
    });
    if (spawned !== null || child.pid === undefined) {
      throw new Error(`cannot start ${this.binary}: ${spawned?.message ?? 'no pid'}`);
    }
    const pid = child.pid;
    this.options.log.info({ vm: spec.id, pid, accelerator }, 'qemu started');
    try {
      const identity = await identify(pid);
      if (identity === null) throw await this.startupFailure(paths, child);
      const qmp = await this.connectWhileStarting(paths, child);
      const status = await qmp.execute<{ running: boolean }>('query-status');
      const vm = new QemuVm({
        spec,
        paths,
        identity,
        child,
        qmp,
        state: status.running ? 'running' : 'paused',
        consoleOffset,
        log: this.options.log,
      });
      await vm.startConsole();
      return vm;
    } catch (error) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      throw error;
    }
  }

  async attach(spec: VmLaunchSpec): Promise<RunningVm | null> {
    validateLaunchSpec(spec);
    const paths = qemuRunPaths(spec.runDir);
    const identity = await this.findProcess(paths);
    if (identity === null) return null;
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: 5000 });
    } catch (error) {
      if (!(await isAlive(identity))) return null;
      throw new Error(`qemu pid ${identity.pid} of VM ${spec.name} runs but its QMP socket does not answer: ${(error as Error).message}`);
    }
    const status = await qmp.execute<{ running: boolean }>('query-status');
    let consoleOffset = 0;
    try {
      consoleOffset = (await stat(paths.consoleLog)).size;
    } catch {
      consoleOffset = 0;
    }
    const vm = new QemuVm({
      spec,
      paths,
      identity,
      qmp,
      state: status.running ? 'running' : 'paused',
      consoleOffset,
      log: this.options.log,
    });
    await vm.startConsole();
    this.options.log.info({ vm: spec.id, pid: identity.pid }, 'qemu re-attached');
    return vm;
  }

  async goneReason(spec: VmLaunchSpec): Promise<ExitReason> {
    const paths = qemuRunPaths(spec.runDir);
    const consoleTail = await readTail(paths.consoleLog, 4096);
    // Linux prints this (at KERN_EMERG, so even with `quiet`) right before it powers off.
    if (consoleTail.includes(LINUX_POWER_OFF_MESSAGE)) return { kind: 'poweroff' };
    const stderr = (await readTail(paths.stderrLog, 1000)).trim().split('\n').slice(-2).join(' | ');
    const lastLine = consoleTail.trim().split('\n').at(-1)?.trim() ?? '';
    const known = [stderr && `qemu said: ${stderr}`, lastLine && `last console line: ${JSON.stringify(lastLine.slice(-200))}`].filter(Boolean);
    return {
      kind: 'crashed',
      message: `the qemu process of VM ${spec.name} ended while the daemon was not running${known.length ? ` (${known.join('; ')})` : ''}`,
    };
  }

  /** The live QEMU of this run directory, from its pid file, or null. */
  private async findProcess(paths: QemuRunPaths): Promise<ProcessIdentity | null> {
    let pid: number;
    try {
      pid = Number.parseInt((await readFile(paths.pidFile, 'utf8')).trim(), 10);
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 1) return null;
    const argv = await readCmdline(pid);
    if (argv === null || !isOurQemu(argv, paths.runDir)) return null; // gone, or the pid was reused
    return identify(pid);
  }

  private async prepareConsoleLog(paths: QemuRunPaths): Promise<number> {
    try {
      const { size } = await stat(paths.consoleLog);
      if (size <= CONSOLE_LOG_ROTATE_BYTES) return size;
      await rename(paths.consoleLog, `${paths.consoleLog}.1`);
      return 0;
    } catch {
      return 0;
    }
  }

  /** QEMU creates the QMP socket early in its start-up; wait for it or for the process to fail. */
  private async connectWhileStarting(paths: QemuRunPaths, child: ChildProcess): Promise<QmpClient> {
    const deadline = Date.now() + QMP_STARTUP_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw await this.startupFailure(paths, child);
      try {
        return await QmpClient.connect(paths.qmpSocket, { timeoutMs: 5000 });
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`qemu pid ${child.pid} did not open its QMP socket within ${QMP_STARTUP_TIMEOUT_MS} ms: ${(error as Error).message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, QMP_RETRY_MS));
    }
  }

  private async startupFailure(paths: QemuRunPaths, child: ChildProcess): Promise<Error> {
    // Let the exit status arrive so the message can carry it.
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    let stderr = '';
    try {
      stderr = (await readFile(paths.stderrLog, 'utf8')).trim();
    } catch {
      stderr = '';
    }
    const status = child.signalCode !== null ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
    return new Error(`qemu failed to start (${status})${stderr ? `: ${stderr.slice(-1000)}` : ''}`);
  }
}
