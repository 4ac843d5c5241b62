/**
 * VmManager: VM definitions, lifecycle (as tasks), engine processes, console
 * history and metrics sampling on one node.
 *
 * Concurrency rule: a lifecycle request checks the VM's state and claims the
 * VM synchronously (before any await), so two requests can never race; the
 * claim is released when the operation's task ends.
 */
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EngineName, ExitReason, RunningVm, VmLaunchSpec } from '../engines/engine.js';
import type { EventBus } from '../events/event-bus.js';
import type { Task, TaskManager } from '../tasks/task-manager.js';
import { badRequest, conflict, notFound } from '../http/api-error.js';
import { ConsoleBuffer } from './console-buffer.js';
import type { EngineSet } from './engine-set.js';
import { MetricsStore, METRICS_INTERVAL_MS } from './metrics-store.js';
import { requireFile, type VmResources } from './resources.js';
import { VmStore } from './vm-store.js';
import type { Db } from '../store/database.js';
import { toView, VM_DEFAULTS, type VmCreateBody, type VmRecord, type VmSpec, type VmState, type VmUpdateBody, type VmView } from './vm-model.js';
import { RestartPolicyTracker } from './restart-policy.js';

export interface VmManagerOptions {
  db: Db;
  dataDir: string;
  events: EventBus;
  tasks: TaskManager;
  engines: EngineSet;
  resources: VmResources;
  log: Logger;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ACTIVE_STATES: VmState[] = ['starting', 'running', 'paused', 'stopping'];
/** After shutdown() resolves, how long to wait for the engine's 'exit' before killing. */
const EXIT_GRACE_MS = 10_000;

interface Live {
  rv: RunningVm;
  exited: Promise<ExitReason>;
}

export class VmManager {
  readonly store: VmStore;
  readonly metrics: MetricsStore;
  private readonly live = new Map<string, Live>();
  private readonly busy = new Map<string, string>();
  private readonly stopRequested = new Set<string>();
  private readonly consoles = new Map<string, { buffer: ConsoleBuffer; viewers: EventEmitter }>();
  private readonly restarts: RestartPolicyTracker;
  private sampler: NodeJS.Timeout | null = null;
  private sampling = false;
  private lastPrune = 0;

  constructor(private readonly o: VmManagerOptions) {
    this.store = new VmStore(o.db);
    this.metrics = new MetricsStore(o.db);
    this.restarts = new RestartPolicyTracker((id) => this.restartAfterCrash(id));
    mkdirSync(join(o.dataDir, 'vms'), { recursive: true });
  }

  runDir(id: string): string {
    return join(this.o.dataDir, 'vms', id);
  }

  // ---- definitions ----

  list(): VmView[] {
    return this.store.all().map((r) => this.view(r));
  }

  get(ref: string): VmView {
    return this.view(this.resolve(ref));
  }

  /** A VM by id or by name. */
  resolve(ref: string): VmRecord {
    const vm = this.store.byId(ref) ?? this.store.byName(ref);
    if (!vm) throw notFound(`vm ${JSON.stringify(ref)}`);
    return vm;
  }

  async create(body: VmCreateBody): Promise<VmView> {
    const name = body.name;
    if (UUID_PATTERN.test(name)) throw badRequest('name must not look like a VM id (UUID)', 'name');
    if (this.store.byName(name)) throw conflict(`a vm named ${JSON.stringify(name)} already exists`, 'name');
    const { engine, reason } = await this.chooseEngine(body.engine);
    const spec = await this.validateSpec(name, this.specFrom(body, null), null);
    const now = Date.now();
    const vm: VmRecord = { id: randomUUID(), name, engine, engineReason: reason, spec, state: 'stopped', stateReason: 'created', createdAt: now, updatedAt: now };
    try {
      this.store.insert(vm);
    } catch (e) {
      if (String(e).includes('UNIQUE')) throw conflict(`a vm named ${JSON.stringify(name)} already exists`, 'name');
      throw e;
    }
    try {
      await this.o.resources.created(vm);
    } catch (e) {
      this.store.delete(vm.id);
      throw e;
    }
    this.o.log.info({ vm: vm.name, id: vm.id, engine, engineReason: reason }, 'vm created');
    const view = this.get(vm.id);
    this.o.events.publish({ type: 'vm.created', vm: view });
    return view;
  }

  async update(ref: string, body: VmUpdateBody): Promise<VmView> {
    const vm = this.resolve(ref);
    if (vm.state !== 'stopped' && vm.state !== 'crashed') {
      throw conflict(`vm ${vm.name} is ${vm.state}; it can only be edited while stopped`);
    }
    if (this.busy.has(vm.id)) throw conflict(`vm ${vm.name} is busy (${this.busy.get(vm.id)})`);
    const name = body.name ?? vm.name;
    if (name !== vm.name) {
      if (UUID_PATTERN.test(name)) throw badRequest('name must not look like a VM id (UUID)', 'name');
      if (this.store.byName(name)) throw conflict(`a vm named ${JSON.stringify(name)} already exists`, 'name');
    }
    let engine = vm.engine;
    let engineReason = vm.engineReason;
    if (body.engine !== undefined && body.engine !== vm.engine) {
      ({ engine, reason: engineReason } = await this.chooseEngine(body.engine));
    }
    const spec = await this.validateSpec(name, this.specFrom(body, vm.spec), vm);
    const updated: VmRecord = { ...vm, name, engine, engineReason, spec, updatedAt: Date.now() };
    try {
      this.store.update(updated);
    } catch (e) {
      if (String(e).includes('UNIQUE')) throw conflict(`a vm named ${JSON.stringify(name)} already exists`, 'name');
      throw e;
    }
    const view = this.get(vm.id);
    this.o.events.publish({ type: 'vm.updated', vm: view });
    return view;
  }

  async remove(ref: string, force: boolean): Promise<void> {
    const vm = this.resolve(ref);
    const active = ACTIVE_STATES.includes(vm.state);
    if (active && !force) {
      throw conflict(`vm ${vm.name} is ${vm.state}; stop it first or delete with force=true`);
    }
    if (this.busy.has(vm.id) && !this.live.has(vm.id)) {
      throw conflict(`vm ${vm.name} is busy (${this.busy.get(vm.id)}); try again when it finished`);
    }
    this.busy.set(vm.id, 'delete');
    try {
      const live = this.live.get(vm.id);
      if (live) {
        this.stopRequested.add(vm.id);
        await live.rv.kill();
        await withTimeout(live.exited, EXIT_GRACE_MS);
      }
      this.restarts.forget(vm.id);
      await this.o.resources.deleted(vm);
      this.store.delete(vm.id);
      this.metrics.forget(vm.id);
      this.consoles.delete(vm.id);
      rmSync(this.runDir(vm.id), { recursive: true, force: true });
    } finally {
      this.busy.delete(vm.id);
      this.stopRequested.delete(vm.id);
    }
    this.o.log.info({ vm: vm.name, id: vm.id }, 'vm deleted');
    this.o.events.publish({ type: 'vm.deleted', id: vm.id, name: vm.name });
  }

  // ---- lifecycle ----

  start(ref: string, reason = 'started by request'): Task {
    const vm = this.claim(ref, 'start', ['stopped', 'crashed']);
    this.setState(vm, 'starting', reason);
    return this.o.tasks.run('vm.start', vm.id, async (ctx) => {
      try {
        ctx.log(`starting ${vm.name} on engine ${vm.engine} (${vm.engineReason})`);
        const engine = this.o.engines.get(vm.engine);
        const avail = await engine.availability();
        if (!avail.available) throw new Error(`engine ${vm.engine} is not available: ${avail.reason}`);
        ctx.progress(0.1);
        const prepared = await this.o.resources.prepare(vm);
        const boot = vm.spec.boot ?? prepared.boot;
        const cmdline = [boot?.cmdline, prepared.extraCmdline].filter((s) => s && s.length > 0).join(' ');
        const spec: VmLaunchSpec = {
          id: vm.id,
          name: vm.name,
          vcpus: vm.spec.vcpus,
          memoryMiB: vm.spec.memoryMiB,
          boot: boot ? { ...boot, cmdline } : undefined,
          disks: prepared.disks,
          nics: prepared.nics,
          runDir: this.runDir(vm.id),
        };
        mkdirSync(spec.runDir, { recursive: true });
        // Kept for attach() after a daemon restart: the launch spec as the engine saw it.
        writeFileSync(join(spec.runDir, 'launch.json'), JSON.stringify(spec, null, 2));
        ctx.progress(0.3);
        let rv: RunningVm;
        try {
          rv = await engine.start(spec);
        } catch (e) {
          await this.o.resources.release(vm).catch(() => {});
          throw e;
        }
        ctx.log(`engine process ${rv.pid} started`);
        this.wire(vm, rv);
        if (this.live.get(vm.id)?.rv === rv) this.setState(vm, 'running', reason);
      } catch (e) {
        this.setState(vm, 'stopped', `start failed: ${e instanceof Error ? e.message : String(e)}`);
        throw e;
      } finally {
        this.busy.delete(vm.id);
      }
    });
  }

  stop(ref: string, timeoutSeconds = 30): Task {
    const vm = this.claim(ref, 'stop', ['running', 'paused']);
    const live = this.live.get(vm.id)!;
    const wasPaused = vm.state === 'paused';
    this.stopRequested.add(vm.id);
    this.setState(vm, 'stopping', 'stop requested');
    return this.o.tasks.run('vm.stop', vm.id, async (ctx) => {
      try {
        // A paused guest cannot see the ACPI power button.
        if (wasPaused) await live.rv.resume();
        ctx.log(`ACPI shutdown, forcing off after ${timeoutSeconds} s`);
        const began = Date.now();
        await live.rv.shutdown(timeoutSeconds * 1000);
        if (!(await withTimeout(live.exited, EXIT_GRACE_MS))) {
          ctx.log('engine did not exit; killing it');
          await live.rv.kill();
          await withTimeout(live.exited, EXIT_GRACE_MS);
        }
        const forced = Date.now() - began >= timeoutSeconds * 1000;
        ctx.log(forced ? `forced off after ${timeoutSeconds} s` : 'guest powered off');
      } finally {
        this.busy.delete(vm.id);
      }
    });
  }

  reboot(ref: string): Task {
    return this.simpleOp(ref, 'reboot', ['running'], async (live) => live.rv.reboot(), null);
  }

  pause(ref: string): Task {
    return this.simpleOp(ref, 'pause', ['running'], async (live) => live.rv.pause(), ['paused', 'paused by request']);
  }

  resume(ref: string): Task {
    return this.simpleOp(ref, 'resume', ['paused'], async (live) => live.rv.resume(), ['running', 'resumed by request']);
  }

  // ---- console and metrics ----

  consoleHistory(ref: string): Buffer {
    return this.consoleOf(this.resolve(ref).id).buffer.snapshot();
  }

  /** Subscribe to a VM's serial output; returns the history to replay and an unsubscribe function. */
  attachConsole(ref: string, onData: (chunk: Buffer) => void): { vmId: string; history: Buffer; detach: () => void } {
    const vm = this.resolve(ref);
    const c = this.consoleOf(vm.id);
    c.viewers.on('data', onData);
    return { vmId: vm.id, history: c.buffer.snapshot(), detach: () => c.viewers.off('data', onData) };
  }

  writeConsole(vmId: string, data: Buffer): boolean {
    const live = this.live.get(vmId);
    if (!live) return false;
    live.rv.writeConsole(data);
    return true;
  }

  metricsSince(ref: string, sinceMs: number) {
    return this.metrics.since(this.resolve(ref).id, sinceMs);
  }

  pidOf(id: string): number | null {
    return this.live.get(id)?.rv.pid ?? null;
  }

  // ---- daemon start / stop ----

  /** Re-adopt engine processes of VMs recorded as active (daemon restart or kill -9). */
  async recover(): Promise<void> {
    for (const vm of this.store.all()) {
      if (!ACTIVE_STATES.includes(vm.state)) continue;
      let rv: RunningVm | null = null;
      let why = 'its engine process was gone when the daemon started';
      try {
        rv = await this.o.engines.get(vm.engine).attach(this.launchSpecOf(vm));
      } catch (e) {
        why = `re-attaching failed: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (!rv) {
        this.o.log.warn({ vm: vm.name, reason: why }, 'vm crashed while the daemon was down');
        await this.o.resources.release(vm).catch(() => {});
        this.setState(vm, 'crashed', why);
        if (vm.spec.restartPolicy === 'on-crash') this.restarts.crashed(vm.id);
        continue;
      }
      this.wire(vm, rv);
      const state: VmState = vm.state === 'paused' ? 'paused' : 'running';
      this.setState(vm, state, `re-attached to engine process ${rv.pid} after daemon restart`);
      this.o.log.info({ vm: vm.name, pid: rv.pid }, 're-attached');
    }
  }

  startSampling(intervalMs = METRICS_INTERVAL_MS): void {
    this.sampler = setInterval(() => void this.sampleAll(), intervalMs);
    this.sampler.unref();
  }

  async sampleAll(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      for (const [id, live] of this.live) {
        try {
          this.metrics.record(id, await live.rv.sample());
        } catch (e) {
          this.o.log.debug({ id, err: String(e) }, 'metrics sample failed');
        }
      }
      if (Date.now() - this.lastPrune > 600_000) {
        this.lastPrune = Date.now();
        this.metrics.prune();
      }
    } finally {
      this.sampling = false;
    }
  }

  /** Daemon shutdown: leave every guest running, drop our connections. */
  detachAll(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.restarts.cancelAll();
    for (const [, live] of this.live) {
      live.rv.removeAllListeners();
      live.rv.detach();
    }
    this.live.clear();
  }

  liveVms(): ReadonlyMap<string, { pid: number }> {
    return new Map([...this.live].map(([id, l]) => [id, { pid: l.rv.pid }]));
  }

  // ---- internals ----

  private view(r: VmRecord): VmView {
    const view = toView(r, this.pidOf(r.id));
    return this.o.resources.describe ? { ...view, ...this.o.resources.describe(r) } : view;
  }

  private launchSpecOf(vm: VmRecord): VmLaunchSpec {
    const file = join(this.runDir(vm.id), 'launch.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as VmLaunchSpec;
    return { id: vm.id, name: vm.name, vcpus: vm.spec.vcpus, memoryMiB: vm.spec.memoryMiB, boot: vm.spec.boot ?? undefined, disks: [], nics: [], runDir: this.runDir(vm.id) };
  }

  private async chooseEngine(requested: EngineName | undefined): Promise<{ engine: EngineName; reason: string }> {
    if (requested) {
      const avail = await this.o.engines.get(requested).availability();
      if (!avail.available) throw badRequest(`engine ${requested} is not available on this host: ${avail.reason}`, 'engine');
      return { engine: requested, reason: 'requested when the VM was defined' };
    }
    const d = await this.o.engines.defaultEngine();
    return { engine: d.name, reason: `host default: ${d.reason}` };
  }

  private specFrom(body: VmUpdateBody, previous: VmSpec | null): VmSpec {
    const extra: Record<string, unknown> = { ...(previous?.extra ?? {}) };
    for (const key of Object.keys(this.o.resources.extraProperties)) {
      if (body[key] !== undefined) extra[key] = body[key];
    }
    return {
      vcpus: body.vcpus ?? previous?.vcpus ?? VM_DEFAULTS.vcpus,
      memoryMiB: body.memoryMiB ?? previous?.memoryMiB ?? VM_DEFAULTS.memoryMiB,
      boot: body.boot ?? previous?.boot ?? null,
      disks: body.disks ?? previous?.disks ?? [],
      nics: body.nics ?? previous?.nics ?? [],
      restartPolicy: body.restartPolicy ?? previous?.restartPolicy ?? 'no',
      extra,
    };
  }

  private async validateSpec(name: string, spec: VmSpec, previous: VmRecord | null): Promise<VmSpec> {
    if (spec.boot) {
      requireFile(spec.boot.kernel, 'boot.kernel');
      if (spec.boot.initrd !== undefined) requireFile(spec.boot.initrd, 'boot.initrd');
    }
    return this.o.resources.validate(name, spec, previous);
  }

  /** Check state and claim the VM for `op`, synchronously. */
  private claim(ref: string, op: string, allowed: VmState[]): VmRecord {
    const vm = this.resolve(ref);
    const other = this.busy.get(vm.id);
    if (other) throw conflict(`vm ${vm.name} is busy (${other} in progress)`);
    if (!allowed.includes(vm.state)) {
      throw conflict(`cannot ${op} vm ${vm.name}: it is ${vm.state} (${op} needs ${allowed.join(' or ')})`);
    }
    if (op !== 'start' && !this.live.has(vm.id)) throw conflict(`vm ${vm.name} has no engine process attached`);
    this.busy.set(vm.id, op);
    return vm;
  }

  private simpleOp(ref: string, op: string, allowed: VmState[], act: (live: Live) => Promise<void>, after: [VmState, string] | null): Task {
    const vm = this.claim(ref, op, allowed);
    const live = this.live.get(vm.id)!;
    return this.o.tasks.run(`vm.${op}`, vm.id, async (ctx) => {
      try {
        ctx.log(`${op} ${vm.name}`);
        await act(live);
        if (after && this.live.get(vm.id) === live) this.setState(vm, after[0], after[1]);
      } finally {
        this.busy.delete(vm.id);
      }
    });
  }

  private setState(vm: VmRecord, state: VmState, reason: string): void {
    if (!this.store.byId(vm.id)) return;
    vm.state = state;
    vm.stateReason = reason;
    this.store.setState(vm.id, state, reason);
    this.o.events.publish({ type: 'vm.state', id: vm.id, name: vm.name, state, stateReason: reason });
  }

  private consoleOf(id: string): { buffer: ConsoleBuffer; viewers: EventEmitter } {
    let c = this.consoles.get(id);
    if (!c) {
      mkdirSync(this.runDir(id), { recursive: true });
      const viewers = new EventEmitter();
      viewers.setMaxListeners(0);
      c = { buffer: new ConsoleBuffer(join(this.runDir(id), 'console-history.log')), viewers };
      this.consoles.set(id, c);
    }
    return c;
  }

  private wire(vm: VmRecord, rv: RunningVm): void {
    let resolveExit!: (r: ExitReason) => void;
    const exited = new Promise<ExitReason>((r) => (resolveExit = r));
    const live: Live = { rv, exited };
    this.live.set(vm.id, live);
    const c = this.consoleOf(vm.id);
    rv.on('console', (chunk: Buffer) => {
      c.buffer.append(chunk);
      c.viewers.emit('data', chunk);
    });
    rv.on('state', (s: 'running' | 'paused') => {
      const cur = this.store.byId(vm.id);
      if (cur && (cur.state === 'running' || cur.state === 'paused') && cur.state !== s) {
        this.setState(vm, s, s === 'paused' ? 'paused (reported by the engine)' : 'running (reported by the engine)');
      }
    });
    rv.once('exit', (reason: ExitReason) => {
      resolveExit(reason);
      void this.onExit(vm, live, reason);
    });
  }

  private async onExit(vm: VmRecord, live: Live, reason: ExitReason): Promise<void> {
    if (this.live.get(vm.id) !== live) return;
    this.live.delete(vm.id);
    const cur = this.store.byId(vm.id);
    if (!cur) return;
    await this.o.resources.release(cur).catch((e) => this.o.log.warn({ vm: vm.name, err: String(e) }, 'releasing resources failed'));
    if (this.stopRequested.delete(vm.id)) {
      this.setState(vm, 'stopped', reason.kind === 'poweroff' ? 'stopped by request' : `stopped by request (${reason.message})`);
    } else if (reason.kind === 'poweroff') {
      this.setState(vm, 'stopped', 'the guest powered off');
    } else {
      this.o.log.warn({ vm: vm.name, reason: reason.message }, 'vm crashed');
      this.setState(vm, 'crashed', reason.message);
      if (cur.spec.restartPolicy === 'on-crash') {
        const gaveUp = this.restarts.crashed(vm.id);
        if (gaveUp) this.setState(vm, 'crashed', `${reason.message}; ${gaveUp}`);
      }
    }
  }

  private restartAfterCrash(id: string): void {
    const vm = this.store.byId(id);
    if (!vm || vm.state !== 'crashed' || vm.spec.restartPolicy !== 'on-crash') return;
    try {
      this.start(id, 'restarted by the on-crash restart policy');
    } catch (e) {
      this.o.log.warn({ vm: vm.name, err: String(e) }, 'restart after crash failed');
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
