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
import { readFile } from 'node:fs/promises';
import type { ExitReason, VmSample } from '../engine.js';
import { ConsoleSocket } from '../console-socket.js';
import { FileTail } from '../file-tail.js';
import type { ProcessEnd } from '../process-watch.js';
import { isAlive } from '../proc.js';
import { SupervisedVm, type SupervisedVmParams } from '../supervised-vm.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import type { QemuRunPaths } from './command-line.js';

/** SHUTDOWN causes (QAPI ShutdownCause) that mean an orderly stop, not a crash. */
const ORDERLY_SHUTDOWN_CAUSES = new Set(['guest-shutdown', 'host-qmp-quit', 'host-ui']);
const QUIT_GRACE_MS = 3000;
/** A guest that prints without end must not fill the host's disk: console.log is cut at this size. */
const CONSOLE_LOG_MAX_BYTES = 16 * 1024 * 1024;
/** How long to wait for QMP's last messages once the process is gone. */
const QMP_DRAIN_MS = 1000;

interface BlockStats {
  stats?: { rd_bytes?: number; wr_bytes?: number };
}

export interface QemuVmParams extends SupervisedVmParams {
  paths: QemuRunPaths;
  qmp: QmpClient;
  /** Where in console.log this daemon's console stream starts. */
  consoleOffset: number;
}

export class QemuVm extends SupervisedVm {
  readonly engine = 'qemu' as const;
  readonly consoleLogPath: string;
  private qmp: QmpClient;
  private readonly paths: QemuRunPaths;
  private readonly consoleTail: FileTail;
  private readonly consoleInput: ConsoleSocket;
  private shutdownCause: string | null = null;

  constructor(params: QemuVmParams) {
    super(params.identity, params);
    this.paths = params.paths;
    this.consoleLogPath = params.paths.consoleLog;
    this.qmp = params.qmp;
    this.watchQmp(this.qmp);
    this.consoleTail = new FileTail(params.paths.consoleLog, params.consoleOffset, 1000, {
      atBytes: CONSOLE_LOG_MAX_BYTES,
      toPath: `${params.paths.consoleLog}.1`,
    });
    this.consoleTail.on('data', (chunk: Buffer) => this.emit('console', chunk));
    this.consoleInput = new ConsoleSocket(params.paths.consoleSocket, () => !this.watch.exited && !this.detached);
    // QEMU also sends the output to the connected client; the log already has it.
    this.consoleInput.on('data', () => undefined);
  }

  /** Start following the console (called by the engine before handing the VM out). */
  async startConsole(): Promise<void> {
    await this.consoleTail.start();
    await this.consoleInput.open();
  }

  async shutdown(timeoutMs: number): Promise<void> {
    if (this.hasExited) return;
    this.assertAttached('shutdown');
    this.stopRequested = true;
    let buttonPressed = true;
    try {
      // A paused guest cannot see the power button.
      if (this.state === 'paused') await this.qmp.execute('cont');
      await this.qmp.execute('system_powerdown');
    } catch (error) {
      this.log.warn({ vm: this.spec.id, err: error }, 'system_powerdown failed; forcing the stop');
      buttonPressed = false;
    }
    // Without a pressed button there is nothing to wait for.
    if (await this.waitExit(buttonPressed ? timeoutMs : 0)) return;
    this.log.info({ vm: this.spec.id, timeoutMs }, 'guest did not power off in time: quitting qemu');
    try {
      await this.qmp.execute('quit', undefined, QUIT_GRACE_MS);
    } catch {
      /* the SIGKILL below settles it */
    }
    if (await this.waitExit(QUIT_GRACE_MS)) return;
    await this.kill();
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
    const [base, blockStats] = await Promise.all([
      this.processSample(),
      this.qmp.execute<BlockStats[]>('query-blockstats').catch(() => [] as BlockStats[]),
    ]);
    base.diskReadBytes = blockStats.reduce((sum, b) => sum + (b.stats?.rd_bytes ?? 0), 0);
    base.diskWriteBytes = blockStats.reduce((sum, b) => sum + (b.stats?.wr_bytes ?? 0), 0);
    return base;
  }

  protected override async settleBeforeJudging(): Promise<void> {
    // QEMU sends SHUTDOWN before exiting: read the rest of QMP before judging.
    await Promise.race([this.qmp.closedPromise(), new Promise((resolve) => setTimeout(resolve, QMP_DRAIN_MS))]);
  }

  protected async closeConnections(): Promise<void> {
    this.qmp.close();
    this.consoleInput.close();
    // A detached handle says nothing more: a new handle takes over the console from here.
    await this.consoleTail.stop(!this.detached);
  }

  protected async judgeExit(end: ProcessEnd): Promise<ExitReason> {
    if (this.shutdownCause !== null && ORDERLY_SHUTDOWN_CAUSES.has(this.shutdownCause)) return { kind: 'poweroff' };
    let how = SupervisedVm.describeEnd(end);
    if (end.signal === null && this.shutdownCause !== null) how = `stopped by ${this.shutdownCause}${end.code !== null ? `, exit code ${end.code}` : ''}`;
    const stderr = await this.stderrTail();
    return { kind: 'crashed', message: `qemu process ${this.pid} exited unexpectedly (${how})${stderr ? `: ${stderr}` : ''}` };
  }

  private watchQmp(qmp: QmpClient): void {
    qmp.on('event', (event: QmpEvent) => {
      if (event.event === 'STOP') this.setState('paused');
      else if (event.event === 'RESUME') this.setState('running');
      else if (event.event === 'SHUTDOWN') {
        this.shutdownCause = typeof event.data.reason === 'string' ? event.data.reason : 'unknown';
      }
    });
    qmp.once('close', () => void this.onQmpClosed());
  }

  /** QEMU closes QMP only when exiting; if it lives on, reconnect. */
  private async onQmpClosed(): Promise<void> {
    // Usually QEMU is exiting: notice it now rather than at the next poll.
    if (!this.detached) this.watch.check();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (this.detached || this.watch.exited || !(await isAlive(this.identity))) return;
    try {
      const qmp = await QmpClient.connect(this.paths.qmpSocket, { timeoutMs: 2000 });
      if (this.detached || this.watch.exited) {
        qmp.close();
        return;
      }
      this.qmp = qmp;
      this.watchQmp(qmp);
      const status = await qmp.execute<{ running: boolean }>('query-status');
      this.setState(status.running ? 'running' : 'paused');
    } catch (error) {
      this.log.warn({ vm: this.spec.id, err: error }, 'QMP reconnect failed; will retry');
      void this.onQmpClosed();
    }
  }

  private async stderrTail(): Promise<string> {
    try {
      const text = await readFile(this.paths.stderrLog, 'utf8');
      return text.trim().split('\n').slice(-3).join(' | ').slice(-500);
    } catch {
      return '';
    }
  }
}
