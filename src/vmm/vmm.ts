/**
 * The VMM controller behind the control API: a VM is configured piece by
 * piece (machine config, boot source, drives, NICs, vsock, balloon), started,
 * paused, resumed, snapshotted, or loaded from a snapshot. Every action says
 * in which states it is allowed (issue 4: "each request says when it is
 * allowed"); the API turns StateError into 409 and ConfigError into 400.
 */
import { EventEmitter } from 'node:events';
import { Machine, type MachineExit } from './machine.js';
import { debug } from './startup-trace.js';
import { ConfigError, DEFAULT_CMDLINE, type DiskConfig, type NetConfig, type VmConfig } from './config.js';
import { DEFAULT_KVM_PATH } from '../kvm/kvm.js';
import type { BalloonInfo } from './device-worker.js';

export type VmmState = 'not-started' | 'running' | 'paused' | 'stopped';

export class StateError extends Error {
  constructor(
    readonly action: string,
    readonly state: VmmState,
    readonly allowed: readonly VmmState[],
  ) {
    super(`${action} is not allowed while the VM is ${state} (allowed: ${allowed.join(', ')})`);
    this.name = 'StateError';
  }
}

export interface MachineConfigInput {
  vcpus: number;
  memoryMiB: number;
}

export interface BootSourceInput {
  kernelPath: string;
  initrdPath?: string | undefined;
  cmdline?: string | undefined;
}

export interface VmmInfo {
  id: string;
  state: VmmState;
  version: string;
  startedAt?: string | undefined;
  config: Partial<VmConfig>;
}

export class Vmm extends EventEmitter {
  private machine: Machine | undefined;
  private stateValue: VmmState = 'not-started';
  private startedAt: Date | undefined;
  private readonly pending: {
    vcpus: number;
    memoryMiB: number;
    boot?: BootSourceInput;
    drives: Map<string, DiskConfig>;
    nets: Map<string, NetConfig>;
    vsock?: { cid: number; uds: string };
    balloon: boolean;
  } = { vcpus: 1, memoryMiB: 256, drives: new Map(), nets: new Map(), balloon: false };

  constructor(
    readonly id: string,
    private readonly options: {
      kvmPath?: string;
      consoleFd?: number;
      /** A guest reset reboots the VM in place (the platform's VMMs); `typevisor run` exits instead. */
      rebootOnReset?: boolean;
    } = {},
  ) {
    super();
  }

  get state(): VmmState {
    return this.stateValue;
  }

  private require(action: string, ...allowed: VmmState[]): void {
    if (!allowed.includes(this.stateValue)) throw new StateError(action, this.stateValue, allowed);
  }

  setMachineConfig(c: MachineConfigInput): void {
    this.require('PUT /machine-config', 'not-started');
    this.pending.vcpus = c.vcpus;
    this.pending.memoryMiB = c.memoryMiB;
  }

  setBootSource(b: BootSourceInput): void {
    this.require('PUT /boot-source', 'not-started');
    this.pending.boot = b;
  }

  setDrive(id: string, d: DiskConfig): void {
    this.require('PUT /drives', 'not-started');
    this.pending.drives.set(id, d);
  }

  setNetworkInterface(id: string, n: NetConfig): void {
    this.require('PUT /network-interfaces', 'not-started');
    this.pending.nets.set(id, n);
  }

  setVsock(v: { cid: number; uds: string }): void {
    this.require('PUT /vsock', 'not-started');
    this.pending.vsock = v;
  }

  /** The VmConfig the pending pieces make (throws ConfigError when the boot source is missing). */
  buildConfig(): VmConfig {
    const boot = this.pending.boot;
    if (!boot) throw new ConfigError('boot-source', 'no boot source: PUT /boot-source first');
    return {
      kernelPath: boot.kernelPath,
      initrdPath: boot.initrdPath,
      cmdline: boot.cmdline ?? DEFAULT_CMDLINE,
      vcpus: this.pending.vcpus,
      memoryMiB: this.pending.memoryMiB,
      disks: [...this.pending.drives.values()],
      nets: [...this.pending.nets.values()],
      vsock: this.pending.vsock,
      rng: false,
      balloon: this.pending.balloon,
      virtioConsole: false,
      kvmPath: this.options.kvmPath ?? DEFAULT_KVM_PATH,
    };
  }

  /** Boots a VM from a full config (typevisor run) or from the pending pieces (InstanceStart). */
  async start(config: VmConfig = this.buildConfig()): Promise<void> {
    this.require('InstanceStart', 'not-started');
    const machine = await Machine.create(config, { consoleFd: this.options.consoleFd });
    await this.adopt(machine, false);
  }

  async loadSnapshot(dir: string, resume: boolean): Promise<void> {
    this.require('PUT /snapshot/load', 'not-started');
    const machine = Machine.restore(dir, { consoleFd: this.options.consoleFd, kvmPath: this.options.kvmPath });
    await this.adopt(machine, !resume);
    debug(`snapshot loaded, VM ${this.stateValue}`);
  }

  private async adopt(machine: Machine, paused: boolean): Promise<void> {
    this.machine = machine;
    machine.on('warning', (m: string) => this.emit('warning', m));
    machine.on('console', (bytes: Uint8Array) => this.emit('console', bytes));
    machine.once('exit', (exit: MachineExit) => {
      if (exit.kind === 'reset' && this.options.rebootOnReset && !this.stopping) {
        this.emit('reboot', exit.reason);
        this.stateValue = 'not-started';
        this.start(machine.config).catch((e: Error) => {
          this.stateValue = 'stopped';
          this.emit('exit', { kind: 'error', reason: `reboot failed: ${e.message}` } satisfies MachineExit);
        });
        return;
      }
      this.stateValue = 'stopped';
      this.emit('exit', exit);
    });
    try {
      await machine.start({ paused });
    } catch (e) {
      // The machine is torn down already (Machine.start): this VMM is as it was before the attempt.
      machine.removeAllListeners();
      this.machine = undefined;
      throw e;
    }
    this.startedAt = new Date();
    this.stateValue = paused ? 'paused' : 'running';
  }

  async pause(): Promise<void> {
    this.require('PATCH /vm Paused', 'running');
    debug('pausing');
    await this.machine!.pause();
    debug('paused');
    this.stateValue = 'paused';
  }

  resume(): void {
    this.require('PATCH /vm Resumed', 'paused');
    this.machine!.resume();
    this.stateValue = 'running';
  }

  async snapshot(dir: string): Promise<{ memoryBytes: number; durationMs: number }> {
    this.require('PUT /snapshot/create', 'paused');
    return this.machine!.snapshot(dir);
  }

  powerButton(): void {
    this.require('SendPowerButton', 'running');
    this.machine!.pressPowerButton();
  }

  /**
   * Ctrl+Alt+Del typed on the i8042's PS/2 keyboard, as Firecracker's SendCtrlAltDel: a Linux guest reboots
   * (its keyboard driver calls ctrl_alt_del(): a restart, or SIGINT to init once init asked for that).
   */
  ctrlAltDel(): void {
    this.require('SendCtrlAltDel', 'running');
    this.machine!.sendCtrlAltDel();
  }

  sendConsoleInput(bytes: Uint8Array): void {
    this.machine?.sendConsoleInput(bytes);
  }

  private stopping = false;

  /** Reset the guest: it reboots (rebootOnReset) or the VMM ends. */
  async reset(): Promise<void> {
    this.require('Reset', 'running', 'paused');
    await this.machine!.resetFromHost();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.machine && this.stateValue !== 'stopped') {
      await this.machine.stop();
    } else if (this.stateValue === 'not-started') {
      // No machine will ever report an exit: report it here, so a `typevisor vmm` stopped before its guest
      // started (SIGTERM while waiting for configuration) ends instead of waiting forever.
      this.stateValue = 'stopped';
      this.emit('exit', { kind: 'stopped' } satisfies MachineExit);
    }
    this.stateValue = 'stopped';
  }

  /** Balloon target and statistics (PUT /balloon, GET /balloon, GET /balloon/statistics). */
  async balloon(targetMiB?: number): Promise<BalloonInfo> {
    if (targetMiB !== undefined) this.require('PUT /balloon', 'running', 'paused');
    else this.require('GET /balloon', 'running', 'paused');
    if (!this.machine?.config.balloon) throw new ConfigError('balloon', 'this VM has no balloon device (start it with --balloon or PUT /balloon before boot)');
    return this.machine.balloon(targetMiB);
  }

  /** Before boot: PUT /balloon adds the device. */
  enableBalloon(): void {
    this.require('PUT /balloon', 'not-started');
    this.pending.balloon = true;
  }

  async debugDump(): Promise<string> {
    return this.machine ? this.machine.debugDump() : `VM ${this.stateValue}: nothing to dump`;
  }

  info(): VmmInfo {
    const config = this.machine?.config ?? (this.pending.boot ? this.buildConfig() : { vcpus: this.pending.vcpus, memoryMiB: this.pending.memoryMiB });
    return {
      id: this.id,
      state: this.stateValue,
      version: '0.1.0',
      startedAt: this.startedAt?.toISOString(),
      config,
    };
  }

  async deviceMetrics(): Promise<Array<{ name: string; metrics: Record<string, number> }>> {
    return this.machine && this.stateValue !== 'stopped' ? this.machine.deviceMetrics() : [];
  }

  metrics(): Record<string, unknown> {
    return {
      state: this.stateValue,
      uptimeSeconds: this.startedAt ? (Date.now() - this.startedAt.getTime()) / 1000 : 0,
      exits: this.machine?.exitCounts() ?? { io: 0, mmio: 0, intr: 0, other: 0 },
    };
  }
}
