/**
 * Threads started before a VM needs them (issue 4: restore latency). Starting a
 * worker thread means a new Node environment loading its modules: hundreds of
 * milliseconds here, seconds in the KVM lab, and the device thread loads every
 * device model. `typevisor vmm`, `restore` and `run` start the threads at once,
 * while they wait for the API or read the snapshot, so that when the VM is built
 * a thread only has to receive its data. `startThread` hands out a pre-started
 * thread of the kind asked for, or starts a new one when none is left.
 *
 * A pre-started thread is a worker started without workerData; it waits for one
 * ThreadInit message (posted with the transfer list its data needs) and then runs
 * as if it had been started with that data (see the end of vcpu-worker.ts and
 * device-worker.ts).
 */
import { existsSync } from 'node:fs';
import { Worker, type Transferable } from 'node:worker_threads';

export type ThreadKind = 'device' | 'vcpu';

/** The message a pre-started thread waits for. */
export interface ThreadInit<T> {
  type: 'init';
  data: T;
}

/**
 * A worker's script: in the VMM bundle (scripts/bundle-vmm.mjs) a self-contained CommonJS file beside this module,
 * else the ES module. An ES module worker sets up Node's ESM loader and resolves and links its modules; the
 * CommonJS bundle is one script. In the KVM lab that made a vCPU thread ready ~0.27 s sooner and a device thread
 * ~0.13 s sooner, CPU time a boot's other two threads had been waiting for.
 */
function workerScript(name: string): URL {
  const bundled = new URL(`./${name}.cjs`, import.meta.url);
  return existsSync(bundled) ? bundled : new URL(`./${name}.js`, import.meta.url);
}

const SCRIPTS: Record<ThreadKind, URL> = {
  device: workerScript('device-worker'),
  vcpu: workerScript('vcpu-worker'),
};

const idle: Record<ThreadKind, Worker[]> = { device: [], vcpu: [] };

function startIdle(kind: ThreadKind): void {
  const worker = new Worker(SCRIPTS[kind], { workerData: null });
  // An idle thread must not keep the process alive, and one that died must not be handed out.
  worker.unref();
  const forget = (): void => {
    const i = idle[kind].indexOf(worker);
    if (i >= 0) idle[kind].splice(i, 1);
  };
  worker.once('error', forget);
  worker.once('exit', forget);
  idle[kind].push(worker);
}

/** Starts threads until `counts` of each kind wait idle. */
export function prestartThreads(counts: Partial<Record<ThreadKind, number>>): void {
  for (const kind of Object.keys(counts) as ThreadKind[]) {
    while (idle[kind].length < (counts[kind] ?? 0)) startIdle(kind);
  }
}

/** How many threads of a kind wait idle. */
export function idleThreads(kind: ThreadKind): number {
  return idle[kind].length;
}

/**
 * A message a pre-started thread may get before its ThreadInit: work for the VM it will run that it can do ahead,
 * while the VM is still being built (see device-worker.ts). Goes to the idle thread that startThread hands out next.
 */
export interface ThreadHint<T> {
  type: 'hint';
  hint: T;
}

/** Sends `hint` to the idle thread of `kind` that startThread will hand out next; nothing when none waits. */
export function hintIdleThread<T>(kind: ThreadKind, hint: T): void {
  const message: ThreadHint<T> = { type: 'hint', hint };
  idle[kind][0]?.postMessage(message);
}

/** A thread running `kind` with `data`: a pre-started one when one waits, else a new one. */
export function startThread<T>(kind: ThreadKind, data: T, transferList: readonly Transferable[] = []): Worker {
  const worker = idle[kind].shift();
  if (!worker) return new Worker(SCRIPTS[kind], { workerData: data, transferList: [...transferList] });
  worker.ref();
  const init: ThreadInit<T> = { type: 'init', data };
  worker.postMessage(init, [...transferList]);
  return worker;
}

/** Ends the idle threads (tests; a process that exits ends them anyway). */
export async function stopIdleThreads(): Promise<void> {
  const all = [...idle.device, ...idle.vcpu];
  idle.device.length = 0;
  idle.vcpu.length = 0;
  await Promise.all(all.map((w) => w.terminate()));
}
