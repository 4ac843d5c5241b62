/**
 * VM lifecycle through a real daemon with the real qemu engine (TCG here): create, start, console over the
 * WebSocket (typing a command), events, 200+ hostile requests with the database unchanged, pause, resume,
 * daemon restart (SIGTERM) and kill -9 with the guest re-attached, a killed engine process shown as crashed,
 * a clean ACPI stop, delete. One guest boots twice in all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { demoBoot } from '../../src/platform/demo.js';
import type { BootSpec } from '../../src/platform/engines/engine.js';
import { call, cleanup, ConsoleReader, dbDump, openWs, rawHttp, startDaemon, waitForState, waitForTask, tempDataDir, type DaemonProcess } from './helpers.js';
import { hostileRequests } from './hostile-requests.js';

let d: DaemonProcess;
let dataDir: string;
let boot: BootSpec;
let vmId = '';
let token: string;
const events: { type: string; state?: string; id?: string }[] = [];
let eventsWs: WebSocket | null = null;

before(async () => {
  const b = await demoBoot({ allowFetch: true });
  assert.ok(b, 'guest artifacts');
  boot = b;
  dataDir = tempDataDir();
  d = await startDaemon({ dataDir });
  token = d.token;
});

after(async () => {
  eventsWs?.close();
  // Whatever a failed test left behind: no guest may outlive the suite.
  const left = await call(d.url, token, 'GET', '/api/v1/vms').catch(() => null);
  for (const vm of (left?.json?.vms ?? []) as { id: string }[]) await call(d.url, token, 'DELETE', `/api/v1/vms/${vm.id}?force=true`).catch(() => {});
  await d.stop();
  cleanup(dataDir);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Type a command until its output appears: keys typed before the shell set up its terminal are discarded. */
async function typeAndSee(reader: ConsoleReader, n: number): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    reader.ws.send(Buffer.from(`echo OUT-$((${n}*7))\n`));
    try {
      await reader.waitFor(`OUT-${n * 7}`, 5000);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
  }
}

test('create and start; the console replays history and takes input', async () => {
  eventsWs = await openWs(d.url, '/api/v1/events', token);
  eventsWs.on('message', (m: Buffer) => events.push(JSON.parse(String(m))));

  const created = await call(d.url, token, 'POST', '/api/v1/vms', { name: 'life', vcpus: 1, memoryMiB: 256, boot });
  assert.equal(created.status, 201, created.text);
  vmId = created.json.id;
  assert.equal(created.json.state, 'stopped');
  assert.equal(created.json.engine, 'qemu');
  assert.match(created.json.engineReason, /host default/);

  const start = await call(d.url, token, 'POST', '/api/v1/vms/life/start');
  assert.equal(start.status, 202, start.text);
  assert.equal(start.json.task.kind, 'vm.start');
  const task = await waitForTask(d.url, token, start.json.task.id);
  assert.equal(task.status, 'succeeded', JSON.stringify(task));
  const vm = await waitForState(d.url, token, 'life', 'running');
  assert.ok(vm.pid > 0);

  const viewer = new ConsoleReader(await openWs(d.url, `/api/v1/vms/${vmId}/console`, token));
  await viewer.waitFor('typevisor-demo: ready', 90_000);
  await typeAndSee(viewer, 6);
  // A second viewer gets the history replayed, and sees what the first one typed.
  const second = new ConsoleReader(await openWs(d.url, '/api/v1/vms/life/console', token));
  await second.waitFor('OUT-42', 5000);
  await typeAndSee(second, 7);
  await viewer.waitFor('OUT-49', 5000);
  viewer.ws.close();
  second.ws.close();

  const log = await call(d.url, token, 'GET', `/api/v1/vms/${vmId}/console/log`);
  assert.equal(log.status, 200);
  assert.match(log.text, /Linux version/);
  assert.match(log.text, /OUT-49/);
  assert.ok(events.some((e) => e.type === 'vm.state' && e.state === 'running'), 'state change on the event stream');
  assert.ok(events.some((e) => e.type === 'task.finished'), 'task completion on the event stream');
});

test('200+ hostile requests: each a 4xx naming the problem; the daemon stays up and the database is unchanged', async () => {
  const other = await call(d.url, token, 'POST', '/api/v1/vms', { name: 'idle', boot });
  assert.equal(other.status, 201, other.text);
  const before = dbDump(dataDir);
  const cases = hostileRequests({ kernel: boot.kernel, initrd: boot.initrd!, runningVm: 'life', stoppedVm: 'idle' });
  assert.ok(cases.length >= 200, `only ${cases.length} cases`);
  for (const c of cases) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let body: string | undefined;
    if (c.rawBody !== undefined) body = c.rawBody;
    else if (c.body !== undefined) body = JSON.stringify(c.body);
    if (body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
    const res = await rawHttp(d.url + c.path, c.method, headers, body).catch((e: Error) => {
      throw new Error(`${c.what}: ${c.method} ${c.path.slice(0, 80)}: ${e.message}`);
    });
    const text = res.text;
    const where = `${c.what}: ${c.method} ${c.path.slice(0, 80)} -> ${res.status} ${text.slice(0, 300)}`;
    assert.ok(res.status >= 400 && res.status < 500, where);
    if (c.status !== undefined) assert.equal(res.status, c.status, where);
    const json = JSON.parse(text) as { error: { code: string; message: string; field?: string } };
    assert.equal(typeof json.error.code, 'string', where);
    assert.ok(json.error.message.length > 0, where);
    if (c.field !== undefined && c.fieldPrefix) assert.ok(json.error.field?.startsWith(c.field), where);
    else if (c.field !== undefined) assert.equal(json.error.field, c.field, where);
    if (c.mentions) assert.match(json.error.message, c.mentions, where);
  }
  assert.equal((await call(d.url, token, 'GET', '/api/v1/vms/life')).json.state, 'running');
  assert.deepEqual(dbDump(dataDir), before);
  assert.equal((await call(d.url, token, 'DELETE', '/api/v1/vms/idle')).status, 204);
});

test('metrics: VM history, node, Prometheus', async () => {
  // The sampler runs every 5 s; the guest has been up longer than that.
  const end = Date.now() + 15_000;
  let samples: { cpuPercent: number; memoryBytes: number }[] = [];
  while (samples.length === 0 && Date.now() < end) {
    samples = (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}/metrics?since=0`)).json.samples;
    if (samples.length === 0) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(samples.length > 0, 'VM metrics sampled');
  assert.ok(samples[0]!.memoryBytes > 16 * 1024 * 1024, 'engine RSS recorded');
  const node = await call(d.url, token, 'GET', '/api/v1/node');
  assert.equal(node.status, 200);
  assert.equal(node.json.defaultEngine.name, 'qemu');
  assert.equal(node.json.vms.running, 1);
  assert.ok(node.json.metrics.memoryTotalBytes > 0);
  assert.ok((await call(d.url, token, 'GET', '/api/v1/node/metrics?since=0')).json.samples.length > 0);
  const prom = await call(d.url, token, 'GET', '/metrics');
  assert.equal(prom.status, 200);
  assert.match(prom.text, /^# TYPE typevisor_node_cpu_percent gauge$/m);
  assert.match(prom.text, /^typevisor_vm_up\{vm="life",id="[^"]+",engine="qemu",state="running"\} 1$/m);
  assert.match(prom.text, /^typevisor_vm_memory_bytes\{vm="life",id="[^"]+"\} \d+$/m);
  assert.equal((await call(d.url, null, 'GET', '/metrics')).status, 401, 'Prometheus needs a token too');
});

test('pause and resume', async () => {
  const p = await call(d.url, token, 'POST', `/api/v1/vms/${vmId}/pause`);
  assert.equal(p.status, 202);
  assert.equal((await waitForTask(d.url, token, p.json.task.id)).status, 'succeeded');
  assert.equal((await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).json.state, 'paused');
  const r = await call(d.url, token, 'POST', `/api/v1/vms/${vmId}/resume`);
  assert.equal((await waitForTask(d.url, token, r.json.task.id)).status, 'succeeded');
  assert.equal((await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).json.state, 'running');
});

test('the guest outlives a daemon restart and a kill -9; the new daemon re-attaches', async () => {
  const pid = (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).json.pid as number;
  eventsWs?.close();
  eventsWs = null;
  assert.equal(await d.stop(), 0, 'SIGTERM exits 0');
  assert.ok(isAlive(pid), 'guest survives SIGTERM of the daemon');
  d = await startDaemon({ dataDir, token });
  let vm = await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`);
  assert.equal(vm.json.state, 'running', vm.text);
  assert.equal(vm.json.pid, pid);
  assert.match(vm.json.stateReason, /re-attached/);
  const history = await call(d.url, token, 'GET', `/api/v1/vms/${vmId}/console/log`);
  assert.match(history.text, /OUT-49/, `console history survives the restart (${history.text.length} bytes)`);
  let reader = new ConsoleReader(await openWs(d.url, `/api/v1/vms/${vmId}/console`, token));
  await reader.waitFor('OUT-49', 5000); // and is replayed to a new viewer
  await typeAndSee(reader, 8);
  reader.ws.close();

  await d.kill9();
  assert.ok(isAlive(pid), 'guest survives kill -9 of the daemon');
  d = await startDaemon({ dataDir, token });
  vm = await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`);
  assert.equal(vm.json.state, 'running', vm.text);
  assert.equal(vm.json.pid, pid);
  reader = new ConsoleReader(await openWs(d.url, `/api/v1/vms/${vmId}/console`, token));
  await typeAndSee(reader, 9);
  reader.ws.close();
});

test('a killed engine process shows as crashed', async () => {
  const pid = (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).json.pid as number;
  process.kill(pid, 'SIGKILL');
  const vm = await waitForState(d.url, token, vmId, 'crashed', 30_000);
  assert.ok(vm.stateReason.length > 0);
  assert.equal(vm.pid, null);
});

test('start again, restart policy after a crash, clean ACPI stop, delete', async () => {
  const readyCount = async (): Promise<number> =>
    (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}/console/log`)).text.split('typevisor-demo: ready').length - 1;
  const edited = await call(d.url, token, 'PATCH', `/api/v1/vms/${vmId}`, { restartPolicy: 'on-crash' });
  assert.equal(edited.status, 200, edited.text);
  const readyBefore = await readyCount();
  const start = await call(d.url, token, 'POST', `/api/v1/vms/${vmId}/start`);
  assert.equal((await waitForTask(d.url, token, start.json.task.id)).status, 'succeeded');
  // The power button watcher is armed once init printed this line again.
  const waitReady = async (after: number): Promise<void> => {
    const end = Date.now() + 90_000;
    while ((await readyCount()) <= after) {
      assert.ok(Date.now() < end, 'the guest never got ready');
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await waitReady(readyBefore);

  // restartPolicy on-crash: a killed engine process is started again (after a 1 s backoff).
  const crashedPid = (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).json.pid as number;
  const readyBeforeCrash = await readyCount();
  process.kill(crashedPid, 'SIGKILL');
  await waitForState(d.url, token, vmId, 'crashed', 30_000);
  const restarted = await waitForState(d.url, token, vmId, 'running', 60_000);
  assert.notEqual(restarted.pid, crashedPid);
  assert.match(restarted.stateReason, /restart policy/);
  await waitReady(readyBeforeCrash);
  const stop = await call(d.url, token, 'POST', `/api/v1/vms/${vmId}/stop?timeoutSeconds=60`);
  assert.equal(stop.status, 202);
  const task = await waitForTask(d.url, token, stop.json.task.id);
  assert.equal(task.status, 'succeeded', JSON.stringify(task));
  const tail = (await call(d.url, token, 'GET', `/api/v1/vms/${vmId}/console/log`)).text.slice(-3000);
  assert.ok(task.log.some((l: string) => l.includes('guest powered off')), `${task.log.join('\n')}\n${tail}`);
  const vm = await waitForState(d.url, token, vmId, 'stopped');
  assert.equal(vm.stateReason, 'stopped by request');
  assert.ok(existsSync(join(dataDir, 'vms', vmId)));
  assert.equal((await call(d.url, token, 'DELETE', `/api/v1/vms/${vmId}`)).status, 204);
  assert.equal((await call(d.url, token, 'GET', `/api/v1/vms/${vmId}`)).status, 404);
  assert.ok(!existsSync(join(dataDir, 'vms', vmId)), 'run directory removed');
  vmId = '';
});
