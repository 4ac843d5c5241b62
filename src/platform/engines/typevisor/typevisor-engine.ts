/**
 * The typevisor engine: one detached typevisor VMM process per VM, configured
 * and driven through its control API (vmm-api.ts). It needs /dev/kvm backed by
 * VMX/SVM: on PVM hosts and hosts without /dev/kvm it reports itself
 * unavailable and the platform picks the qemu engine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Engine, EngineAvailability, ExitReason, RunningVm, VmLaunchSpec } from '../engine.js';
import type { HostFlavour } from '../host-flavour.js';
import { validateLaunchSpec } from '../launch-spec.js';
import { identify, isAlive, readCmdline, type ProcessIdentity } from '../proc.js';
import { isOurVmm, typevisorRunPaths, vmmArguments, type TypevisorRunPaths } from './run-paths.js';
import { VmmApiClient } from './vmm-api-client.js';
import { configureAndStart, type VmInfo, type VmmExitRecord } from './vmm-api.js';
import { TypevisorVm } from './typevisor-vm.js';

const API_STARTUP_TIMEOUT_MS = 15_000;
const API_RETRY_MS = 25;

/** bin/typevisor.js of this checkout, from src/ (tsx) or dist/src/ (compiled). */
export function defaultVmmEntryPoint(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../../..', '../../../../..']) {
    const candidate = join(here, up, 'bin/typevisor.js');
    if (existsSync(candidate)) return candidate;
  }
  return join(here, '../../../..', 'bin/typevisor.js');
}

export interface TypevisorEngineOptions {
  log: Logger;
  hostFlavour: () => Promise<HostFlavour>;
  /** The script run as `node <entryPoint> vmm ...`; bin/typevisor.js unless given. */
  entryPoint?: string;
  /** Extra node options before the entry point (e.g. ['--import', 'tsx'] in tests). */
  nodeArgs?: string[];
}

export class TypevisorEngine implements Engine {
  readonly name = 'typevisor' as const;
  private readonly entryPoint: string;

  constructor(private readonly options: TypevisorEngineOptions) {
    this.entryPoint = options.entryPoint ?? defaultVmmEntryPoint();
  }

  async availability(): Promise<EngineAvailability> {
    const flavour = await this.options.hostFlavour();
    if (!flavour.hardwareKvm) {
      return {
        available: false,
        reason: `the typevisor VMM needs /dev/kvm with hardware virtualization (VMX/SVM), and this host has none: ${flavour.description}`,
      };
    }
    if (!existsSync(this.entryPoint)) {
      return { available: false, reason: `the VMM entry point ${this.entryPoint} is missing (build the project)` };
    }
    return { available: true, reason: `typevisor VMM on ${flavour.description}` };
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    const availability = await this.availability();
    if (!availability.available) throw new Error(`cannot start VM ${spec.name} on the typevisor engine: ${availability.reason}`);
    validateLaunchSpec(spec);
    if (!spec.boot) throw new Error('the typevisor engine boots a kernel directly: give boot.kernel (disk-only boots need the qemu engine)');
    const paths = typevisorRunPaths(spec.runDir);
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    const running = await this.findProcess(paths);
    if (running !== null) throw new Error(`VM ${spec.name} is already running (typevisor VMM pid ${running.pid})`);
    await Promise.all([paths.apiSocket, paths.consoleSocket, paths.pidFile, paths.exitRecord].map((path) => rm(path, { force: true })));

    const logFd = openSync(paths.vmmLog, 'w');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), ...vmmArguments(this.entryPoint, paths, spec.id)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        cwd: spec.runDir,
      });
    } finally {
      closeSync(logFd);
    }
    child.unref();
    const spawnError = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (error) => resolve(error));
    });
    if (spawnError !== null || child.pid === undefined) throw new Error(`cannot start the typevisor VMM: ${spawnError?.message ?? 'no pid'}`);
    try {
      await writeFile(paths.pidFile, `${child.pid}\n`);
      const identity = await identify(child.pid);
      if (identity === null) throw await this.startupFailure(paths, child);
      const api = await this.waitForApi(paths, child);
      await configureAndStart(api, spec);
      this.options.log.info({ vm: spec.id, pid: child.pid }, 'typevisor VMM started');
      const vm = new TypevisorVm({ spec, paths, identity, child, api, state: 'running', log: this.options.log });
      await vm.startConsole();
      return vm;
    } catch (error) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      throw error;
    }
  }

  async attach(spec: VmLaunchSpec): Promise<RunningVm | null> {
    validateLaunchSpec(spec);
    const paths = typevisorRunPaths(spec.runDir);
    const identity = await this.findProcess(paths);
    if (identity === null) return null;
    const api = new VmmApiClient(paths.apiSocket);
    let info: VmInfo;
    try {
      info = await api.get<VmInfo>('/vm/info');
    } catch (error) {
      if (!(await isAlive(identity))) return null;
      throw new Error(`typevisor VMM pid ${identity.pid} of VM ${spec.name} runs but its API does not answer: ${(error as Error).message}`);
    }
    if (info.state === 'Not started') {
      // The previous daemon died between spawning and InstanceStart: nothing worth keeping.
      this.options.log.warn({ vm: spec.id, pid: identity.pid }, 'found a VMM that never started its guest: killing it');
      process.kill(identity.pid, 'SIGKILL');
      return null;
    }
    const vm = new TypevisorVm({
      spec,
      paths,
      identity,
      api,
      state: info.state === 'Paused' ? 'paused' : 'running',
      log: this.options.log,
    });
    await vm.startConsole();
    this.options.log.info({ vm: spec.id, pid: identity.pid }, 'typevisor VMM re-attached');
    return vm;
  }

  async goneReason(spec: VmLaunchSpec): Promise<ExitReason> {
    const paths = typevisorRunPaths(spec.runDir);
    let record: VmmExitRecord | null = null;
    try {
      record = JSON.parse(await readFile(paths.exitRecord, 'utf8')) as VmmExitRecord;
    } catch {
      record = null;
    }
    if (record?.reason === 'poweroff') return { kind: 'poweroff' };
    const detail = record?.message ?? 'it left no exit record';
    return { kind: 'crashed', message: `the typevisor VMM of VM ${spec.name} ended while the daemon was not running (${detail})` };
  }

  private async findProcess(paths: TypevisorRunPaths): Promise<ProcessIdentity | null> {
    let pid: number;
    try {
      pid = Number.parseInt((await readFile(paths.pidFile, 'utf8')).trim(), 10);
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 1) return null;
    const argv = await readCmdline(pid);
    if (argv === null || !isOurVmm(argv, paths)) return null;
    return identify(pid);
  }

  private async waitForApi(paths: TypevisorRunPaths, child: ChildProcess): Promise<VmmApiClient> {
    const api = new VmmApiClient(paths.apiSocket);
    const deadline = Date.now() + API_STARTUP_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw await this.startupFailure(paths, child);
      try {
        const info = await api.get<VmInfo>('/vm/info');
        if (info.state !== 'Not started') throw new Error(`a fresh VMM reports state ${JSON.stringify(info.state)}`);
        return api;
      } catch (error) {
        if ((error as Error).message.startsWith('a fresh VMM')) throw error;
        if (Date.now() > deadline) {
          throw new Error(`typevisor VMM pid ${child.pid} did not serve ${paths.apiSocket} within ${API_STARTUP_TIMEOUT_MS} ms: ${(error as Error).message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, API_RETRY_MS));
    }
  }

  private async startupFailure(paths: TypevisorRunPaths, child: ChildProcess): Promise<Error> {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    let log = '';
    try {
      log = (await readFile(paths.vmmLog, 'utf8')).trim();
    } catch {
      log = '';
    }
    const status = child.signalCode !== null ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
    return new Error(`typevisor VMM failed to start (${status})${log ? `: ${log.slice(-1000)}` : ''}`);
  }
}
