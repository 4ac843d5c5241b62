/**
 * One typevisor VMM process seen as a RunningVm: control through its API socket
 * (vmm-api.ts), serial console through RUN/console.sock.
 */
import { readFile } from 'node:fs/promises';
import type { ExitReason, VmSample } from '../engine.js';
import { ConsoleSocket } from '../console-socket.js';
import type { ProcessEnd } from '../process-watch.js';
import { SupervisedVm, type SupervisedVmParams } from '../supervised-vm.js';
import type { VmmApiClient } from './vmm-api-client.js';
import type { VmmAction, VmmExitRecord, VmmMetrics } from './vmm-api.js';
import type { TypevisorRunPaths } from './run-paths.js';

const TERM_GRACE_MS = 3000;

export interface TypevisorVmParams extends SupervisedVmParams {
  paths: TypevisorRunPaths;
  api: VmmApiClient;
}

export class TypevisorVm extends SupervisedVm {
  readonly engine = 'typevisor' as const;
  private readonly paths: TypevisorRunPaths;
  private readonly api: VmmApiClient;
  private readonly console: ConsoleSocket;

  constructor(params: TypevisorVmParams) {
    super(params.identity, params);
    this.paths = params.paths;
    this.api = params.api;
    this.console = new ConsoleSocket(params.paths.consoleSocket, () => !this.watch.exited && !this.detached);
    this.console.on('data', (chunk: Buffer) => this.emit('console', chunk));
  }

  async startConsole(): Promise<void> {
    await this.console.open();
  }

  async shutdown(timeoutMs: number): Promise<void> {
    if (this.hasExited) return;
    this.assertAttached('shutdown');
    this.stopRequested = true;
    let buttonPressed = true;
    try {
      if (this.state === 'paused') await this.api.patch('/vm', { state: 'Resumed' });
      await this.action('PowerButton');
    } catch (error) {
      this.log.warn({ vm: this.spec.id, err: error }, 'power button failed; forcing the stop');
      buttonPressed = false;
    }
    // Without a pressed button there is nothing to wait for.
    if (await this.waitExit(buttonPressed ? timeoutMs : 0)) return;
    this.log.info({ vm: this.spec.id, timeoutMs }, 'guest did not power off in time: terminating the VMM');
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    if (await this.waitExit(TERM_GRACE_MS)) return;
    await this.kill();
  }

  async reboot(): Promise<void> {
    this.assertAttached('reboot');
    await this.action('Reset');
  }

  async pause(): Promise<void> {
    this.assertAttached('pause');
    await this.api.patch('/vm', { state: 'Paused' });
    this.setState('paused');
  }

  async resume(): Promise<void> {
    this.assertAttached('resume');
    await this.api.patch('/vm', { state: 'Resumed' });
    this.setState('running');
  }

  writeConsole(data: Buffer): void {
    this.console.write(data);
  }

  async sample(): Promise<VmSample> {
    const [base, metrics] = await Promise.all([
      this.processSample(),
      this.api.get<VmmMetrics>('/vm/metrics').catch(() => ({}) as VmmMetrics),
    ]);
    for (const drive of Object.values(metrics.block ?? {})) {
      base.diskReadBytes += drive.read_bytes ?? 0;
      base.diskWriteBytes += drive.write_bytes ?? 0;
    }
    return base;
  }

  protected async closeConnections(): Promise<void> {
    this.console.close();
  }

  protected async judgeExit(end: ProcessEnd): Promise<ExitReason> {
    let record: VmmExitRecord | null = null;
    try {
      record = JSON.parse(await readFile(this.paths.exitRecord, 'utf8')) as VmmExitRecord;
    } catch {
      record = null;
    }
    if (record?.reason === 'poweroff') return { kind: 'poweroff' };
    if (record === null && end.code === 0 && end.signal === null) return { kind: 'poweroff' };
    const detail = record?.message ?? (await this.logTail());
    return {
      kind: 'crashed',
      message: `typevisor VMM process ${this.pid} exited unexpectedly (${SupervisedVm.describeEnd(end)})${detail ? `: ${detail}` : ''}`,
    };
  }

  private async action(action: VmmAction): Promise<void> {
    await this.api.put('/actions', { action_type: action });
  }

  private async logTail(): Promise<string> {
    try {
      return (await readFile(this.paths.vmmLog, 'utf8')).trim().split('\n').slice(-3).join(' | ').slice(-500);
    } catch {
      return '';
    }
  }
}
