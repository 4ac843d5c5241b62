/**
 * What every engine's RunningVm shares: one supervised engine process, its
 * exit (reported once, judged poweroff or crash by the engine), forced kill,
 * detach, the run state, and the process half of a metrics sample.
 */
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { EngineName, ExitReason, RunningVm, VmLaunchSpec, VmRunState, VmSample } from './engine.js';
import { ProcessWatch, type ProcessEnd } from './process-watch.js';
import { cpuPercent, isAlive, readProcStat, readRssBytes, readTapGuestBytes, type ProcessIdentity } from './proc.js';

export interface SupervisedVmParams {
  spec: VmLaunchSpec;
  identity: ProcessIdentity;
  /** Present when this daemon spawned the process (exit code and signal are then known). */
  child?: ChildProcess | undefined;
  state: VmRunState;
  log: Logger;
}

export abstract class SupervisedVm extends EventEmitter implements RunningVm {
  abstract readonly engine: EngineName;
  readonly pid: number;
  protected readonly spec: VmLaunchSpec;
  protected readonly log: Logger;
  protected readonly watch: ProcessWatch;
  /** Set by shutdown()/kill(): the end that follows is a stop, not a crash. */
  protected stopRequested = false;
  protected detached = false;
  private exitReason: ExitReason | null = null;
  private readonly exitWaiters: Array<() => void> = [];
  private currentState: VmRunState;
  private lastCpu: { ticks: number; time: number } | null = null;

  constructor(protected readonly identity: ProcessIdentity, params: SupervisedVmParams) {
    super();
    this.pid = identity.pid;
    this.spec = params.spec;
    this.log = params.log;
    this.currentState = params.state;
    this.watch = new ProcessWatch(identity, params.child);
    this.watch.once('exit', (end: ProcessEnd) => void this.onProcessEnd(end));
  }

  get state(): VmRunState {
    return this.currentState;
  }

  get hasExited(): boolean {
    return this.exitReason !== null;
  }

  abstract shutdown(timeoutMs: number): Promise<void>;
  abstract reboot(): Promise<void>;
  abstract pause(): Promise<void>;
  abstract resume(): Promise<void>;
  abstract writeConsole(data: Buffer): void;
  abstract sample(): Promise<VmSample>;

  /** Close the engine's own connections (control socket, console). */
  protected abstract closeConnections(): Promise<void>;
  /** Decide what the end of the process means; runs after closeConnections(). */
  protected abstract judgeExit(end: ProcessEnd): Promise<ExitReason>;
  /** Give in-flight messages (a SHUTDOWN event, say) a moment to arrive before judging. */
  protected async settleBeforeJudging(): Promise<void> {}

  async kill(): Promise<void> {
    if (this.exitReason !== null) return;
    this.stopRequested = true;
    if (await isAlive(this.identity)) {
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
    while (await isAlive(this.identity)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.watch.stop();
    void this.closeConnections();
  }

  protected assertAttached(operation: string): void {
    if (this.detached) throw new Error(`cannot ${operation} VM ${this.spec.name}: this handle was detached (attach again)`);
  }

  protected setState(state: VmRunState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  /** Resolves true when the process ended within `timeoutMs`. */
  protected waitExit(timeoutMs: number): Promise<boolean> {
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

  /** CPU, memory and tap counters; the engine adds the disk counters it knows. */
  protected async processSample(): Promise<VmSample> {
    const time = Date.now();
    const [stat, memoryBytes, taps] = await Promise.all([
      readProcStat(this.pid),
      readRssBytes(this.pid),
      Promise.all(this.spec.nics.map((nic) => readTapGuestBytes(nic.tap))),
    ]);
    let percent = 0;
    if (stat !== null) {
      if (this.lastCpu !== null) percent = cpuPercent(this.lastCpu.ticks, stat.cpuTicks, time - this.lastCpu.time);
      this.lastCpu = { ticks: stat.cpuTicks, time };
    }
    return {
      time,
      cpuPercent: percent,
      memoryBytes,
      diskReadBytes: 0,
      diskWriteBytes: 0,
      netRxBytes: taps.reduce((sum, t) => sum + t.rx, 0),
      netTxBytes: taps.reduce((sum, t) => sum + t.tx, 0),
    };
  }

  /** "killed by signal SIGKILL" / "exit code 1" / a guess for processes that are not our children. */
  protected static describeEnd(end: ProcessEnd): string {
    if (end.signal !== null) return `killed by signal ${end.signal}`;
    if (end.code !== null) return `exit code ${end.code}`;
    return 'no guest power-off was seen: killed by a signal?';
  }

  private async onProcessEnd(end: ProcessEnd): Promise<void> {
    await this.settleBeforeJudging();
    await this.closeConnections();
    const reason: ExitReason = this.stopRequested ? { kind: 'poweroff' } : await this.judgeExit(end);
    this.exitReason = reason;
    this.log.info({ vm: this.spec.id, engine: this.engine, pid: this.pid, reason }, 'engine process ended');
    for (const waiter of this.exitWaiters.splice(0)) waiter();
    this.emit('exit', reason);
  }
}
