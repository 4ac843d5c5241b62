/**
 * Builds a VM from a VmConfig and runs it: KVM objects, guest RAM, kernel,
 * ACPI tables, vCPUs, the device thread and one thread per vCPU. Owns every
 * resource it opens and releases them on any failure (ARCHITECTURE.md:
 * "Resources have owners").
 */
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { check, EFD_NONBLOCK, native } from '../sys/native.js';
import { Kvm, type CpuidEntry } from '../kvm/kvm.js';
import { MiB, RSDP_START } from '../arch/x86_64/layout.js';
import type { Vm } from '../kvm/vm.js';
import { Vcpu } from '../kvm/vcpu.js';
import type { VmConfig } from './config.js';
import { validateConfig } from './config.js';
import { GuestRam } from './guest-ram.js';
import { mapFileReadOnly, type FileView } from './file-view.js';
import { debug } from './startup-trace.js';
import { CpuStateGate } from './cpu-state-gate.js';
import { hintIdleThread, startThread } from './thread-pool.js';
import { prepareVmShell, takeVmShell } from './vm-shell.js';
import {
  CONTROL_EXITED_COUNT,
  CONTROL_PAUSED_COUNT,
  CONTROL_RUN_STATE,
  CONTROL_WORDS,
  ExitMailbox,
  RUN_STATE_PAUSE,
  RUN_STATE_RUNNING,
  RUN_STATE_STOP,
} from './exit-mailbox.js';
import { encodeState, MEMORY_FILE, readStateFile, SnapshotFormatError, STATE_FILE, writeFileFully, writeSnapshotDir, writeSparseFile } from './snapshot/format.js';
import { restoreVcpu, saveVcpu, savableMsrs } from './snapshot/vcpu-state.js';
import { checkDiskIdentities, diskIdentities, parseSnapshotState, type SnapshotStateV1 } from './snapshot/state.js';
import type { DevicesStateV1 } from './device-manager.js';
import type { BalloonInfo, DeviceCommand, DeviceEvent, DeviceThreadHint, DeviceWorkerData } from './device-worker.js';
import { EXIT_COUNTERS_PER_VCPU, type VcpuMessage, type VcpuWorkerData } from './vcpu-worker.js';


export type MachineExit =
  | { kind: 'poweroff' }
  | { kind: 'reset'; reason: string }
  | { kind: 'panic'; reason: string }
  | { kind: 'error'; reason: string }
  | { kind: 'stopped' };

export interface MachineOptions {
  /** fd guest console output is written to (default: stdout); -1: emitted as 'console' events instead. */
  consoleFd?: number;
}

export type MachineState = 'created' | 'running' | 'paused' | 'stopped';

/**
 * Events: 'exit' (MachineExit) once, when the guest powered off, reset,
 * panicked, failed, or stop() was called.
 */
export class Machine extends EventEmitter {
  state: MachineState = 'created';
  private readonly control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  private readonly controlWords = new Int32Array(this.control);
  private readonly mailbox: SharedArrayBuffer;
  readonly exitCounters: SharedArrayBuffer;
  private readonly vcpuWorkers: Worker[] = [];
  private readonly vcpuTids: number[] = [];
  private deviceWorker: Worker | undefined;
  private readonly devicePort: MessageChannel;
  private exited = false;
  private readonly kickSignal: number;
  private readonly exitDoorbellFd: number;
  private readonly controlDoorbellFd: number;
  readonly startedAt = Date.now();

  private constructor(
    readonly config: VmConfig,
    readonly kvm: Kvm,
    readonly vm: Vm,
    readonly ram: GuestRam,
    readonly vcpus: Vcpu[],
    private readonly consoleFd: number,
    /** The CPUID each vCPU was given (saved in snapshots so a restore presents the same CPU). */
    readonly cpuid: CpuidEntry[][],
    private readonly initialDeviceState?: DevicesStateV1,
  ) {
    super();
    this.mailbox = ExitMailbox.allocate(vcpus.length);
    this.exitCounters = new SharedArrayBuffer(vcpus.length * EXIT_COUNTERS_PER_VCPU * 8);
    this.kickSignal = native().sigrtmin() + 4;
    check(native().installKickSignal(this.kickSignal), 'sigaction(kick signal)');
    this.exitDoorbellFd = check(native().eventfd(0, EFD_NONBLOCK), 'eventfd');
    this.controlDoorbellFd = check(native().eventfd(0, EFD_NONBLOCK), 'eventfd');
    this.devicePort = new MessageChannel();
  }

  /** Validates the config, creates the VM and loads the kernel; nothing runs yet. */
  static async create(config: VmConfig, options: MachineOptions = {}): Promise<Machine> {
    debug('creating the VM');
    validateConfig(config);
    const { applyBootCpuState, bootMsrs, configureVcpu, guestCpuid, guestRamRanges, loadKernel } = await import('./boot-modules.js');
    debug('boot modules loaded');
    // prepareVmShell never throws: a host without KVM is reported by buildVm below, after the kernel checks.
    prepareVmShell(config.kvmPath);
    // Guest RAM and the kernel come first: bad kernels, initrds and command lines are
    // reported as such even on a host without KVM.
    const ranges = guestRamRanges(config.memoryMiB * MiB);
    const ram = GuestRam.allocate(ranges);
    // The device thread attaches it while this thread loads the kernel (device-worker.ts attachAhead).
    hintIdleThread<DeviceThreadHint>('device', { ram: ram.shared() });
    return withCleanup([() => ram.close()], (cleanup) => {
      // Mapped, not read: the loader copies them from the page cache into guest RAM (file-view.ts).
      const kernel = mapFileReadOnly(config.kernelPath);
      let initrd: FileView | undefined;
      let setup: ReturnType<typeof loadKernel>;
      try {
        if (config.initrdPath !== undefined) initrd = mapFileReadOnly(config.initrdPath);
        setup = loadKernel({
          kernel: kernel.bytes,
          kernelPath: config.kernelPath,
          initrd: initrd?.bytes,
          cmdline: config.cmdline,
          memory: ram.memory,
          ramRanges: ranges,
          // The device thread writes the firmware tables, the RSDP here, before any vCPU runs (start()).
          acpiRsdpAddress: RSDP_START,
        });
      } finally {
        kernel.close();
        initrd?.close();
      }
      debug('kernel loaded into guest RAM');
      const { kvm, vm, vcpus, cpuid } = buildVm(config, ram, cleanup, (vcpu, i, supported) => {
        const entries = guestCpuid(supported(), i, config.vcpus);
        configureVcpu(vcpu, entries, bootMsrs());
        if (i === 0) applyBootCpuState(vcpu, setup.entry);
        return entries;
      });
      debug(`VM created: ${setup.format} kernel, entry 0x${setup.entry.rip.toString(16)}`);
      return new Machine(config, kvm, vm, ram, vcpus, options.consoleFd ?? 1, cpuid);
    });
  }

  /**
   * Rebuilds a VM from a snapshot directory: memory mapped private and lazily
   * from memory.bin, every vCPU, irqchip, PIT, clock and device restored.
   * Refuses damaged snapshots and disks that changed since.
   */
  static restore(dir: string, options: MachineOptions & { kvmPath?: string } = {}): Machine {
    debug(`restoring from ${dir}`);
    const state = parseSnapshotState(readStateFile(dir));
    debug('snapshot state read and checked');
    checkDiskIdentities(state.disks);
    const memoryPath = join(dir, MEMORY_FILE);
    const expected = state.ramRanges.reduce((sum, r) => sum + r.size, 0);
    if (!existsSync(memoryPath)) throw new SnapshotFormatError(`snapshot ${dir} has no ${MEMORY_FILE}`);
    const actual = statSync(memoryPath).size;
    if (actual !== expected) {
      throw new SnapshotFormatError(`${memoryPath} is ${actual} bytes but the snapshot describes ${expected} bytes of RAM (truncated?)`);
    }
    const config: VmConfig = { ...state.config, kvmPath: options.kvmPath ?? state.config.kvmPath };
    const ram = GuestRam.fromFile(memoryPath, state.ramRanges);
    debug('guest RAM mapped');
    // The device thread attaches it while this thread sets up the VM and its vCPUs (device-worker.ts attachAhead).
    hintIdleThread<DeviceThreadHint>('device', { ram: ram.shared() });
    return withCleanup([() => ram.close()], (cleanup) => {
      const { kvm, vm, vcpus, cpuid } = buildVm(config, ram, cleanup, (vcpu, i) => {
        const entries = state.cpuid[i]!;
        vcpu.setCpuid(entries);
        debug(`vCPU ${i}: CPUID set`);
        return entries;
      });
      const machine = new Machine(config, kvm, vm, ram, vcpus, options.consoleFd ?? 1, cpuid, state.devices);
      // Put back by start(), while the device thread builds the devices.
      machine.pendingCpuRestore = () => {
        vcpus.forEach((vcpu, i) => {
          try {
            restoreVcpu(vcpu, state.vcpus[i]!);
          } catch (e) {
            // A snapshot from another CPU model or KVM version, or edited: the snapshot's fault, not the VMM's.
            throw new SnapshotFormatError(`snapshot ${dir}: vCPU ${i}'s state cannot be restored on this host: ${(e as Error).message}`);
          }
        });
        state.vm.irqchips.forEach((chip) => vm.setIrqchip(new Uint8Array(Buffer.from(chip, 'base64'))));
        vm.setPit2(new Uint8Array(Buffer.from(state.vm.pit, 'base64')));
        vm.setClock(BigInt(state.vm.clock));
        debug('vCPUs, irqchip, PIT and clock restored');
      };
      return machine;
    });
  }

  /** Writes a snapshot of a paused machine to `dir` (created atomically). */
  async snapshot(dir: string): Promise<{ memoryBytes: number; durationMs: number }> {
    if (this.state !== 'paused') throw new Error(`snapshot needs a paused VM; this one is ${this.state}`);
    const started = performance.now();
    debug('snapshot: requesting device state');
    const devices = await this.requestDeviceState();
    debug('snapshot: device state received');
    this.msrIndices ??= savableMsrs(this.vcpus[0]!, this.kvm.msrIndexList());
    debug('snapshot: MSR list probed');
    const state: SnapshotStateV1 = {
      version: 1,
      createdAt: new Date().toISOString(),
      config: this.config,
      ramRanges: this.ram.ranges.map((r) => ({ gpa: r.gpa, size: r.size })),
      cpuid: this.cpuid,
      vcpus: this.vcpus.map((v) => saveVcpu(v, this.msrIndices!)),
      vm: {
        irqchips: [0, 1, 2].map((chip) => Buffer.from(this.vm.getIrqchip(chip)).toString('base64')),
        pit: Buffer.from(this.vm.getPit2()).toString('base64'),
        clock: (this.pausedClock ?? this.vm.getClock().clock).toString(),
      },
      devices,
      disks: diskIdentities(this.config),
    };
    debug('snapshot: vCPU and VM state saved');
    await writeSnapshotDir(dir, async (tmp) => {
      writeFileFully(join(tmp, STATE_FILE), [encodeState(state)]);
      debug('snapshot: state file written');
      // Pages the guest never touched are not even read (GuestRam.dataExtents).
      writeSparseFile(join(tmp, MEMORY_FILE), this.ram.memory.regions.map((r) => r.bytes), { extents: this.ram.dataExtents() });
      debug('snapshot: memory file written');
    });
    debug('snapshot: files synced and renamed');
    return { memoryBytes: this.ram.memory.totalBytes, durationMs: performance.now() - started };
  }

  /** A restore's vCPU, irqchip, PIT and clock state, put back by start() (see Machine.restore). */
  private pendingCpuRestore: (() => void) | undefined;
  private readonly cpuStateGate = new CpuStateGate();
  /** Set when start() failed and threw: the caller has the error, so the machine's end is not also an 'exit'. */
  private exitQuietly = false;
  private msrIndices: number[] | undefined;
  private pausedClock: bigint | undefined;
  private nextRequestId = 1;
  private readonly pendingRequests = new Map<number, (state: DevicesStateV1) => void>();

  private readonly pendingDumps = new Map<number, (text: string) => void>();
  private readonly pendingMetrics = new Map<number, (d: Array<{ name: string; metrics: Record<string, number> }>) => void>();

  /** Per-device counters (requests, bytes each way, errors) of the virtio functions, in config order. */
  deviceMetrics(): Promise<Array<{ name: string; metrics: Record<string, number> }>> {
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      this.pendingMetrics.set(id, resolve);
      this.command({ type: 'metrics', id });
    });
  }
  private readonly pendingBalloon = new Map<number, (e: { info: BalloonInfo | null; error?: string }) => void>();

  /** Sets the balloon target (targetMiB) or just reads it, with the latest guest statistics. */
  balloon(targetMiB?: number): Promise<BalloonInfo> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      this.pendingBalloon.set(id, (e) => (e.info ? resolve(e.info) : reject(new Error(e.error ?? 'balloon unavailable'))));
      this.command(targetMiB === undefined ? { type: 'balloon-get', id } : { type: 'balloon-set', id, targetMiB });
    });
  }

  /**
   * A diagnostic picture of the VM: each vCPU's registers (the vCPUs are
   * kicked out of KVM_RUN first) and the last exits the device thread served.
   */
  async debugDump(): Promise<string> {
    const lines: string[] = [];
    if (this.state === 'running') await this.pause().catch((e: Error) => lines.push(`pause failed: ${e.message}`));
    for (const v of this.vcpus) {
      try {
        const r = v.getRegs();
        lines.push(`vcpu${v.index}: rip=0x${r.rip.toString(16)} rsp=0x${r.rsp.toString(16)} rflags=0x${r.rflags.toString(16)} rax=0x${r.rax.toString(16)} mp_state=${v.getMpState()}`);
      } catch (e) {
        lines.push(`vcpu${v.index}: ${(e as Error).message}`);
      }
    }
    lines.push(await this.recentExits(2000));
    return lines.join('\n');
  }

  /** The device thread's list of the last exits it served (its `dump` command). */
  private recentExits(timeoutMs: number): Promise<string> {
    const id = this.nextRequestId++;
    return Promise.race([
      new Promise<string>((resolve) => {
        this.pendingDumps.set(id, resolve);
        this.command({ type: 'dump', id });
      }),
      new Promise<string>((resolve) => setTimeout(() => resolve(`device thread did not answer within ${timeoutMs} ms`), timeoutMs)),
    ]);
  }

  private requestDeviceState(): Promise<DevicesStateV1> {
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      this.pendingRequests.set(id, resolve);
      this.command({ type: 'save', id });
    });
  }

  /**
   * Starts the device thread and one thread per vCPU together; the vCPUs are held (parked as for a pause) until
   * the device thread has built and restored the devices, so no exit reaches a device before it is ready.
   * Resolves when all run (or, with `paused`, when all are parked).
   */
  async start(options: { paused?: boolean } = {}): Promise<void> {
    if (this.state !== 'created') throw new Error(`cannot start a machine that is ${this.state}`);
    Atomics.store(this.controlWords, CONTROL_RUN_STATE, RUN_STATE_PAUSE);
    const deviceData: DeviceWorkerData = {
      config: this.config,
      vmFd: this.vm.fd,
      ram: this.ram.shared(),
      vcpus: this.vcpus.length,
      mailbox: this.mailbox,
      exitDoorbellFd: this.exitDoorbellFd,
      controlDoorbellFd: this.controlDoorbellFd,
      consoleFd: this.consoleFd,
      port: this.devicePort.port2,
      restoreState: this.initialDeviceState,
      // A fresh boot: the firmware tables describe the machine the device thread builds, and are written there.
      firmwareTables: this.initialDeviceState ? undefined : { vcpus: this.vcpus.length },
      cpuStateGate: this.pendingCpuRestore ? this.cpuStateGate.buffer : undefined,
    };
    debug('starting the device thread');
    const deviceWorker = startThread('device', deviceData, [this.devicePort.port2]);
    this.deviceWorker = deviceWorker;
    const deviceReady = new Promise<void>((resolve, reject) => {
      this.devicePort.port1.on('message', (e: DeviceEvent) => {
        if (e.type === 'ready') resolve();
        else this.onDeviceEvent(e);
      });
      deviceWorker.once('error', (err) => {
        reject(err);
        this.finish({ kind: 'error', reason: `device thread failed: ${err.message}` });
      });
    });

    const readies: Promise<void>[] = [];
    debug('starting vCPU threads');
    for (const vcpu of this.vcpus) {
      const data: VcpuWorkerData = {
        vcpu: vcpu.shared(),
        mailbox: this.mailbox,
        control: this.control,
        exitCounters: this.exitCounters,
        doorbellFd: this.exitDoorbellFd,
        kickSignal: this.kickSignal,
      };
      const w = startThread('vcpu', data);
      this.vcpuWorkers.push(w);
      readies.push(
        new Promise<void>((resolve, reject) => {
          w.on('message', (m: VcpuMessage) => {
            if (m.type === 'ready') {
              debug(`vCPU ${m.index} thread ready (tid ${m.tid})`);
              this.vcpuTids[m.index] = m.tid;
              resolve();
            } else this.onVcpuMessage(m);
          });
          w.once('error', (err) => {
            reject(err);
            this.finish({ kind: 'error', reason: `vCPU thread failed: ${err.message}` });
          });
        }),
      );
    }
    if (this.pendingCpuRestore) {
      const restoreCpus = this.pendingCpuRestore;
      this.pendingCpuRestore = undefined;
      try {
        restoreCpus();
      } catch (e) {
        // As when Machine.restore itself refuses a snapshot: nothing runs and no exit is reported, the caller gets
        // the error.
        this.cpuStateGate.open(false);
        void deviceReady.catch(() => undefined);
        void Promise.all(readies).catch(() => undefined);
        this.exitQuietly = true;
        this.finish({ kind: 'error', reason: (e as Error).message });
        await this.teardown();
        throw e;
      }
      this.cpuStateGate.open(true);
    }
    await deviceReady;
    debug('device thread ready');
    await Promise.all(readies);
    debug('all vCPU threads ready');
    if (options.paused) {
      this.state = 'paused';
      this.pausedClock = this.vm.getClock().clock;
      return;
    }
    Atomics.store(this.controlWords, CONTROL_RUN_STATE, RUN_STATE_RUNNING);
    Atomics.notify(this.controlWords, CONTROL_RUN_STATE);
    this.state = 'running';
  }

  private onVcpuMessage(m: VcpuMessage): void {
    if (m.type === 'system-event') {
      if (m.event === 'shutdown') this.finish({ kind: 'poweroff' });
      else if (m.event === 'triple-fault') void this.finishAfterTripleFault(m.index, m.detail);
      else if (m.event === 'reset') this.finish({ kind: 'reset', reason: m.detail });
      else this.finish({ kind: 'panic', reason: `guest reported a crash (${m.detail})` });
    } else if (m.type === 'error') {
      this.finish({ kind: 'error', reason: m.message });
    }
  }

  private onDeviceEvent(e: DeviceEvent): void {
    if (e.type === 'poweroff') this.finish({ kind: 'poweroff' });
    else if (e.type === 'reset') {
      this.finish(e.reason.startsWith('guest kernel panic') ? { kind: 'panic', reason: e.reason } : { kind: 'reset', reason: e.reason });
    } else if (e.type === 'error') this.emit('warning', e.message);
    else if (e.type === 'console-output') this.emit('console', e.bytes);
    else if (e.type === 'metrics') {
      this.pendingMetrics.get(e.id)?.(e.devices);
      this.pendingMetrics.delete(e.id);
    } else if (e.type === 'balloon') {
      this.pendingBalloon.get(e.id)?.(e);
      this.pendingBalloon.delete(e.id);
    } else if (e.type === 'dumped') {
      this.pendingDumps.get(e.id)?.(e.text);
      this.pendingDumps.delete(e.id);
    } else if (e.type === 'saved') {
      this.pendingRequests.get(e.id)?.(e.state);
      this.pendingRequests.delete(e.id);
    }
  }

  private command(cmd: DeviceCommand): void {
    this.devicePort.port1.postMessage(cmd);
    native().eventfdWrite(this.controlDoorbellFd, 1);
  }

  sendConsoleInput(bytes: Uint8Array): void {
    this.command({ type: 'console-input', bytes });
  }

  pressPowerButton(): void {
    this.command({ type: 'power-button' });
  }

  sendCtrlAltDel(): void {
    this.command({ type: 'ctrl-alt-del' });
  }

  /** Kicks every vCPU out of KVM_RUN: immediate_exit for one that is about to enter, a signal for one inside. */
  private kickAll(): void {
    this.vcpus.forEach((v, i) => {
      v.run[1] = 1;
      const tid = this.vcpuTids[i];
      if (tid) native().tgkill(tid, this.kickSignal);
    });
  }

  /** Parks every vCPU; resolves once all are out of KVM_RUN. */
  async pause(): Promise<void> {
    if (this.state !== 'running') throw new Error(`cannot pause a machine that is ${this.state}`);
    Atomics.store(this.controlWords, CONTROL_RUN_STATE, RUN_STATE_PAUSE);
    const deadline = Date.now() + 5000;
    while (Atomics.load(this.controlWords, CONTROL_PAUSED_COUNT) < this.vcpus.length) {
      this.kickAll();
      if (Date.now() > deadline) throw new Error('vCPUs did not stop within 5 s');
      await new Promise((r) => setTimeout(r, 1));
    }
    for (const v of this.vcpus) v.kvmclockCtrl();
    // Freeze guest time while paused, as QEMU does: the clock resumes where it stopped.
    this.pausedClock = this.vm.getClock().clock;
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') throw new Error(`cannot resume a machine that is ${this.state}`);
    if (this.pausedClock !== undefined) this.vm.setClock(this.pausedClock);
    this.pausedClock = undefined;
    Atomics.store(this.controlWords, CONTROL_RUN_STATE, RUN_STATE_RUNNING);
    Atomics.notify(this.controlWords, CONTROL_RUN_STATE);
    this.state = 'running';
  }

  /** A host-initiated machine reset (the API's Reset action): ends this machine with kind 'reset'. */
  async resetFromHost(): Promise<void> {
    this.finish({ kind: 'reset', reason: 'reset requested through the control API' });
    await this.teardown();
  }

  /** Stops the VM (host side). The 'exit' event reports `stopped` unless the guest already ended it. */
  async stop(): Promise<void> {
    this.finish({ kind: 'stopped' });
    await this.teardown();
  }

  /**
   * A triple fault leaves no trace in the guest (no handler runs) and, on SVM, KVM re-initialises the vCPU before
   * reporting it (svm.c shutdown_interception), so its registers are gone too. What the VMM saw last is the best
   * clue left: the last exits the device thread served go to a warning before the machine ends.
   */
  private async finishAfterTripleFault(index: number, detail: string): Promise<void> {
    const exits = await this.recentExits(1000);
    const last = exits.split('\n').slice(-17).join('\n');
    if (!this.exited) this.emit('warning', `vCPU ${index}: triple fault; ${last}`);
    this.finish({ kind: 'reset', reason: detail });
  }

  private finish(exit: MachineExit): void {
    if (this.exited) return;
    this.exited = true;
    Atomics.store(this.controlWords, CONTROL_RUN_STATE, RUN_STATE_STOP);
    Atomics.notify(this.controlWords, CONTROL_RUN_STATE);
    this.kickAll();
    this.state = 'stopped';
    void this.teardown().then(() => {
      if (!this.exitQuietly) this.emit('exit', exit);
    });
  }

  private tornDown: Promise<void> | undefined;
  private teardown(): Promise<void> {
    this.tornDown ??= (async () => {
      const deadline = Date.now() + 3000;
      while (Atomics.load(this.controlWords, CONTROL_EXITED_COUNT) < this.vcpuWorkers.length && Date.now() < deadline) {
        this.kickAll();
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(this.vcpuWorkers.map((w) => w.terminate()));
      if (this.deviceWorker) {
        this.command({ type: 'stop' });
        await this.deviceWorker.terminate();
      }
      this.devicePort.port1.close();
      for (const v of this.vcpus) v.close();
      this.ram.close();
      this.vm.close();
      this.kvm.close();
      native().close(this.exitDoorbellFd);
      native().close(this.controlDoorbellFd);
    })();
    return this.tornDown;
  }

  /** Exit counters summed over vCPUs: io, mmio, intr, other. */
  exitCounts(): { io: number; mmio: number; intr: number; other: number } {
    const c = new Float64Array(this.exitCounters);
    const out = { io: 0, mmio: 0, intr: 0, other: 0 };
    for (let i = 0; i < this.vcpus.length; i++) {
      out.io += c[i * EXIT_COUNTERS_PER_VCPU]!;
      out.mmio += c[i * EXIT_COUNTERS_PER_VCPU + 1]!;
      out.intr += c[i * EXIT_COUNTERS_PER_VCPU + 2]!;
      out.other += c[i * EXIT_COUNTERS_PER_VCPU + 3]!;
    }
    return out;
  }
}

function withCleanup<T>(initial: Array<() => void>, body: (cleanup: Array<() => void>) => T): T {
  const cleanup = [...initial];
  try {
    return body(cleanup);
  } catch (e) {
    for (const undo of cleanup.reverse()) {
      try {
        undo();
      } catch {
        // best effort: report the original failure
      }
    }
    throw e;
  }
}

/** KVM objects for a config over prepared RAM; `setupVcpu` configures each vCPU and returns its CPUID. */
function buildVm(
  config: VmConfig,
  ram: GuestRam,
  cleanup: Array<() => void>,
  /** `supported` reads KVM_GET_SUPPORTED_CPUID once, when asked: a restore sets the snapshot's CPUID instead. */
  setupVcpu: (vcpu: Vcpu, index: number, supported: () => CpuidEntry[]) => CpuidEntry[],
): { kvm: Kvm; vm: Vm; vcpus: Vcpu[]; cpuid: CpuidEntry[][] } {
  const { kvm, vm, vcpu0, vcpuMmapSize } = takeVmShell(config.kvmPath);
  debug('KVM opened, VM shell ready');
  cleanup.push(() => kvm.close());
  cleanup.push(() => vm.close());
  const vcpus: Vcpu[] = [vcpu0];
  cleanup.push(() => vcpus.forEach((v) => v.close()));
  const maxVcpus = kvm.maxVcpus();
  if (config.vcpus > maxVcpus) throw new Error(`--cpus ${config.vcpus} exceeds this host's KVM limit of ${maxVcpus}`);
  ram.ranges.forEach((r, slot) => vm.setUserMemoryRegion(slot, r.gpa, r.size, r.address));
  debug('memory slots set');
  let supportedCpuid: CpuidEntry[] | undefined;
  const supported = (): CpuidEntry[] => (supportedCpuid ??= kvm.supportedCpuid());
  const cpuid: CpuidEntry[][] = [];
  for (let i = 0; i < config.vcpus; i++) {
    if (i > 0) vcpus.push(Vcpu.create(vm.fd, i, vcpuMmapSize));
    cpuid.push(setupVcpu(vcpus[i]!, i, supported));
    debug(`vCPU ${i} set up`);
  }
  return { kvm, vm, vcpus, cpuid };
}
