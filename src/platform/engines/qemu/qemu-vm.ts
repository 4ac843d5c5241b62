/**
 * One running QEMU process seen as a RunningVm (engine.ts), whether the daemon
 * started it or re-attached to it after a restart.
 *
 * Console: output is read by following RUN/console.log, which QEMU writes for
 * every byte whether or not a client is connected, so no output is lost before
 * the first connection or across reconnects; keystrokes go into RUN/console.sock.
 *
 * Exit: a QMP SHUTDOWN event of a guest power-off (or a stop we asked for)
 * before the process ends is a 'poweroff'; anything else is a 'crashed'.
 */
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ExitReason, RunningVm, VmLaunchSpec, VmRunState, VmSample } from '../engine.js';
import { ConsoleSocket } from '../console-socket.js';
import { FileTail } from '../file-tail.js';
import { ProcessWatch, type ProcessEnd } from '../process-watch.js';
import { cpuPercent, isAlive, readProcStat, readRssBytes, readTapGuestBytes, type ProcessIdentity } from '../proc.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import type { QemuRunPaths } from './command-line.js';

/** SHUTDOWN reasons (QAPI ShutdownCause) that mean an orderly stop, not a crash. */
const ORDERLY_SHUTDOWN_CAUSES = new Set(['guest-shutdown', 'host-qmp-quit', 'host-ui']);
const QUIT_GRACE_MS = 3000;

interface BlockStats {
  stats?: { rd_bytes?: number; wr_bytes?: number };
}

export interface QemuVmParams {
  spec: VmLaunchSpec;
  paths: QemuRunPaths;
  identity: ProcessIdentity;
  /** Present when this daemon spawned the process. */
  child?: ChildProcess | undefined;
  qmp: QmpClient;
  state: VmRunState;
  /** Where in console.log this daemon's console stream starts. */
  consoleOffset: number;
  log: Logger;
}

export class QemuVm extends EventEmitter implements RunningVm {
  readonly engine = 'qemu' as const;
  readonly pid: number;
  readonly consoleLogPath: string;
  private currentState: VmRunState;
  private qmp: QmpClient;
  private readonly watch: ProcessWatch;
  private readonly consoleTail: FileTail;
  private readonly consoleInput: ConsoleSocket;
  private stopRequested = false;
  private shutdownCause: string | null = null;
  private detached = false;
  private exitReason: ExitReason | null = null;
  private readonly exitWaiters: Array<() => void> = [];
  private lastCpu: { ticks: number; time: number } | null = null;

  constructor(private readonly params: QemuVmParams) {
    super();
    this.pid = params.identity.pid;
    this.consoleLogPath = params.paths.consoleLog;
    this.currentState = params.state;
    this.qmp = params.qmp;
    this.watchQmp(this.qmp);
    this.watch = new ProcessWatch(params.identity, params.child);
    this.watch.once('exit', (end: ProcessEnd) => void this.onProcessEnd(end));
    this.consoleTail = new FileTail(params.paths.consoleLog, params.consoleOffset);
    this.consoleTail.on('data', (chunk: Buffer) => this.emit('console', chunk));
    this.consoleInput = new ConsoleSocket(params.paths.consoleSocket, () => !this.watch.exited && !this.detached);
    // QEMU also sends the output to the connected client: the log already has it.
    this.consoleInput.on('data', () => undefined);
  }

  get state(): VmRunState {
    return this.currentState;
  }

  /** Start following the console (called by the engine before handing the VM out). */
  async startConsole(): Promise<void> {
    await this.consoleTail.start();
    await this.consoleInput.open();
  }

  async shutdown(timeoutMs: number): Promise<void> {
    if (this.exitReason !== null) return;
    this.assertAttached('shutdown');
    this.stopRequested = true;
    try {
      // A paused guest cannot see the power button.
      if (this.currentState === 'paused') await this.qmp.execute('cont');
      await this.qmp.execute('system_powerdown');
    } catch (error) {
      this.params.log.warn({ vm: this.params.spec.id, err: error }, 'system_powerdown failed; forcing the stop');
    }
    if (await this.waitExit(timeoutMs)) return;
    this.params.log.info({ vm: this.params.spec.id, timeoutMs }, 'guest did not power off in time: quitting qemu');
    try {
      await this.qmp.execute('quit', undefined, QUIT_GRACE_MS);
    } catch {
      /* the SIGKILL below settles it */
    }
    if (await this.waitExit(QUIT_GRACE_MS)) return;
    await this.kill();
  }

  async kill(): Promise<void> {
    if (this.exitReason !== null) return;
    this.stopRequested = true;
    if (await isAlive(this.params.identity)) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    if (!this.detached) {
      await this.waitExit(Number.POSITIVE_INFINITY);
      return;
    }
    // Detached: nothing watches the process any more; wait for it here.
    while (await isAlive(this.params.identity)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async reboot(): Promise<void> {
    this.assertAttached('reboot');
    await this.qmp.execute('system_reset');
  }

  async pause(): Promise<void> {
    this.assertAttached('pause');
    await this.qmp.execute('stop');
    this.setState('paused');
  }

  async resume(): Promise<void> {
    this.assertAttached('resume');
    await this.qmp.execute('cont');
    this.setState('running');
  }

  writeConsole(data: Buffer): void {
    this.consoleInput.write(data);
  }

  async sample(): Promise<VmSample> {
    const time = Date.now();
    const [stat, memoryBytes, blockStats, taps] = await Promise.all([
      readProcStat(this.pid),
      readRssBytes(this.pid),
      this.qmp.execute<BlockStats[]>('query-blockstats').catch(() => [] as BlockStats[]),
      Promise.all(this.params.spec.nics.map((nic) => readTapGuestBytes(nic.tap))),
    ]);
    let percent = 0;
    if (stat !== null) {
      if (this.lastCpu !== null) {
        percent = cpuPercent(this.lastCpu.ticks, stat.cpuTicks, time - this.lastCpu.time);
      }
      this.lastCpu = { ticks: stat.cpuTicks, time };
    }
    return {
      time,
      cpuPercent: percent,
      memoryBytes,
      diskReadBytes: blockStats.reduce((sum, b) => sum + (b.stats?.rd_bytes ?? 0), 0),
      diskWriteBytes: blockStats.reduce((sum, b) => sum + (b.stats?.wr_bytes ?? 0), 0),
      netRxBytes: taps.reduce((sum, t) => sum + t.rx, 0),
      netTxBytes: taps.reduce((sum, t) => sum + t.tx, 0),
    };
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.watch.stop();
    void this.consoleTail.stop();
    this.consoleInput.close();
    this.qmp.close();
  }

  private assertAttached(operation: string): void {
    if (this.detached) throw new Error(`cannot ${operation} VM ${this.params.spec.name}: this handle was detached (attach again)`);
  }

  /** Resolves true when the process ended within `timeoutMs`. */
  private waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exitReason !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.exitWaiters.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const index = this.exitWaiters.indexOf(done);
          if (index >= 0) this.exitWaiters.splice(index, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  private setState(state: VmRunState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private watchQmp(qmp: QmpClient): void {
    qmp.on('event', (event: QmpEvent) => {
      switch (event.event) {
        case 'STOP':
          this.setState('paused');
          break;
        case 'RESUME':
          this.setState('running');
          break;
        case 'SHUTDOWN':
          this.shutdownCause = typeof event.data.reason === 'string' ? event.data.reason : 'unknown';
          break;
        default:
          break;
      }
    });
    qmp.once('close', () => void this.onQmpClosed());
  }

  /** QEMU closes QMP only when exiting; if it lives on, reconnect. */
  private async onQmpClosed(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (this.detached || this.watch.exited || !(await isAlive(this.params.identity))) return;
    try {
      const qmp = await QmpClient.connect(this.params.paths.qmpSocket, { timeoutMs: 2000 });
      if (this.detached || this.watch.exited) {
        qmp.close();
        return;
      }
      this.qmp = qmp;
      this.watchQmp(qmp);
      const status = await qmp.execute<{ running: boolean }>('query-status');
      this.setState(status.running ? 'running' : 'paused');
    } catch (error) {
      this.params.log.warn({ vm: this.params.spec.id, err: error }, 'QMP reconnect failed; will retry');
      void this.onQmpClosed();
    }
  }

  private async onProcessEnd(end: ProcessEnd): Promise<void> {
    // QEMU writes SHUTDOWN before exiting: read the rest of QMP before judging.
    await Promise.race([this.qmp.closedPromise(), new Promise((resolve) => setTimeout(resolve, 1000))]);
    this.qmp.close();
    this.consoleInput.close();
    await this.consoleTail.stop();
    const reason = await this.judgeExit(end);
    this.exitReason = reason;
    this.params.log.info({ vm: this.params.spec.id, pid: this.pid, reason }, 'qemu process ended');
    for (const waiter of this.exitWaiters.splice(0)) waiter();
    this.emit('exit', reason);
  }

  private async judgeExit(end: ProcessEnd): Promise<ExitReason> {
    if (this.stopRequested) return { kind: 'poweroff' };
    if (this.shutdownCause !== null && ORDERLY_SHUTDOWN_CAUSES.has(this.shutdownCause)) return { kind: 'poweroff' };
    let how: string;
    if (end.signal !== null) how = `killed by signal ${end.signal}`;
    else if (this.shutdownCause !== null) how = `stopped by ${this.shutdownCause}${end.code !== null ? `, exit code ${end.code}` : ''}`;
    else if (end.code !== null) how = `exit code ${end.code}`;
    else how = 'no guest power-off was seen: killed by a signal?';
    const stderr = await this.stderrTail();
    return {
      kind: 'crashed',
      message: `qemu process ${this.pid} exited unexpectedly (${how})${stderr ? `: ${stderr}` : ''}`,
    };
  }

  private async stderrTail(): Promise<string> {
    try {
      const text = await readFile(this.params.paths.stderrLog, 'utf8');
      return text.trim().split('\n').slice(-3).join(' | ').slice(-500);
    } catch {
      return '';
    }
  }
}
