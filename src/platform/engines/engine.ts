/**
 * The engine interface (ARCHITECTURE.md "Engines and hosts"): the platform runs
 * every VM through one of these, and knows nothing else about how.
 *
 * Engine processes outlive the daemon: everything needed to find a running VM
 * again lives under its run directory (pid file, control/QMP socket, console
 * socket or log), so `attach()` can re-adopt it after a restart or kill -9.
 */
import type { EventEmitter } from 'node:events';

export type EngineName = 'typevisor' | 'qemu';

export interface BootSpec {
  kernel: string;
  initrd?: string | undefined;
  cmdline?: string | undefined;
}

export interface DiskSpec {
  /** Absolute host path of the image. */
  path: string;
  format: 'raw' | 'qcow2';
  readonly: boolean;
  serial?: string | undefined;
}

export interface NicSpec {
  /** Host tap device the NIC is attached to (created by the network layer). */
  tap: string;
  mac: string;
}

/** Everything an engine needs to start one VM. Paths are absolute. */
export interface VmLaunchSpec {
  id: string;
  name: string;
  vcpus: number;
  memoryMiB: number;
  boot?: BootSpec | undefined;
  disks: DiskSpec[];
  nics: NicSpec[];
  /** Directory owned by this VM's engine process: sockets, pid file, logs. */
  runDir: string;
}

export interface VmSample {
  /** Wall-clock milliseconds. */
  time: number;
  /** Guest CPU use in percent of one host CPU (may exceed 100 with several vCPUs). */
  cpuPercent: number;
  /** Resident memory of the engine process in bytes. */
  memoryBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
}

export type ExitReason =
  | { kind: 'poweroff' } // guest powered off (or stop completed)
  | { kind: 'crashed'; message: string }; // engine process died unexpectedly

/** Whether the guest's vCPUs run. */
export type VmRunState = 'running' | 'paused';

/**
 * A running VM. Emits:
 * - 'console' (chunk: Buffer): serial output bytes,
 * - 'exit' (reason: ExitReason): the engine process is gone,
 * - 'state' (state: 'running' | 'paused'): the guest was paused/resumed by any means.
 */
export interface RunningVm extends EventEmitter {
  readonly pid: number;
  readonly engine: EngineName;
  /** Current state, kept up to date (also right after attach(): a VM may have been paused before the restart). */
  readonly state: VmRunState;
  /** File holding the whole serial output of this run (and earlier ones), when the engine keeps one. */
  readonly consoleLogPath?: string | undefined;
  /** Ask the guest to power off (ACPI power button); resolves when it exited or timeoutMs passed (then kills). */
  shutdown(timeoutMs: number): Promise<void>;
  /** Kill the engine process now. */
  kill(): Promise<void>;
  reboot(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Bytes typed into the serial console. */
  writeConsole(data: Buffer): void;
  /** One metrics sample (cumulative byte counters; cpuPercent since the previous sample). */
  sample(): Promise<VmSample>;
  /** Drop the daemon's connections without stopping the VM (daemon shutdown). */
  detach(): void;
}

export interface EngineAvailability {
  available: boolean;
  /** Why (not) — shown in the API, the CLI and the logs. */
  reason: string;
}

export interface Engine {
  readonly name: EngineName;
  availability(): Promise<EngineAvailability>;
  start(spec: VmLaunchSpec): Promise<RunningVm>;
  /** Re-adopt a VM started by an earlier daemon; null when its process is gone. */
  attach(spec: VmLaunchSpec): Promise<RunningVm | null>;
  /**
   * After attach() returned null: how the engine process most likely ended while no daemon watched
   * (a guest power-off recorded in the run directory, else a crash with what is known).
   */
  goneReason?(spec: VmLaunchSpec): Promise<ExitReason>;
}
