/**
 * L1-side program: the platform daemon with the typevisor engine on real KVM
 * (issue 5, "with the typevisor engine: the same lifecycle in the KVM lab").
 * Run as `node dist/test/kvm/platform-lab.js SPEC.json OUT.json`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../helpers/repo.js';
import { call, waitForState, waitForTask } from '../platform/helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function consoleUntil(url: string, token: string, id: string, re: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(url, token, 'GET', `/api/v1/vms/${id}/console/log`);
    if (re.test(r.text)) return r.text;
    if (Date.now() > end) throw new Error(`console never showed ${re}:\n${r.text.slice(-1500)}`);
    await sleep(500);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(readFileSync(specPath!, 'utf8')) as { kernel: string; initrd: string };
  const out: Record<string, unknown> = {};
  const save = () => writeFileSync(outPath!, JSON.stringify(out, null, 2));
  // Each step says when it ends, on the lab's output and in OUT.json, so a run cut short still shows where it was.
  const started = Date.now();
  const step = (name: string, value: unknown): void => {
    out[name] = value;
    process.stdout.write(`platform-lab: ${name} at ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    save();
  };
  // L1's init leaves loopback down; the daemon and its clients talk over 127.0.0.1.
  spawnSync('ip', ['link', 'set', 'lo', 'up']);
  const data = mkdtempSync('/tmp/tv-platform-lab-');
  const token = 'tv_lab_token_0123456789abcdef';
  const daemon = spawn(process.execPath, [join(repoRoot(), 'bin/typevisor.js'), 'serve', '--data', data, '--listen', '127.0.0.1:0', '--no-demo'], {
    env: { ...process.env, TYPEVISOR_BOOTSTRAP_TOKEN: token, TYPEVISOR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  daemon.stdout.on('data', (d: Buffer) => (log += d.toString()));
  daemon.stderr.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const t0 = Date.now();
    while (!/listening on (http\S+)/.test(log)) {
      if (Date.now() - t0 > 120_000 || daemon.exitCode !== null) throw new Error(`daemon did not start:\n${log}`);
      await sleep(200);
    }
    const url = /listening on (http\S+)/.exec(log)![1]!;
    step('daemonStartMs', Date.now() - t0);
    const created = await call(url, token, 'POST', '/api/v1/vms', {
      name: 'tv-on-kvm',
      vcpus: 2,
      memoryMiB: 384,
      boot: { kernel: spec.kernel, initrd: spec.initrd, cmdline: 'console=ttyS0 reboot=k panic=-1 quiet' },
      disks: [],
      nics: [],
    });
    step('create', { status: created.status, engine: created.json?.engine, engineReason: created.json?.engineReason });
    const id = created.json.id as string;
    const start = await call(url, token, 'POST', `/api/v1/vms/${id}/start`);
    step('startTask', (await waitForTask(url, token, start.json.task.id, 120_000)).status);
    step('bootedConsole', (await consoleUntil(url, token, id, /TVP: ready/, 180_000)).slice(-400));
    const pause = await call(url, token, 'POST', `/api/v1/vms/${id}/pause`);
    step('pauseTask', (await waitForTask(url, token, pause.json.task.id, 60_000)).status);
    step('pausedState', (await waitForState(url, token, id, 'paused', 30_000)).state);
    const resume = await call(url, token, 'POST', `/api/v1/vms/${id}/resume`);
    step('resumeTask', (await waitForTask(url, token, resume.json.task.id, 60_000)).status);
    const metrics = await call(url, token, 'GET', `/api/v1/vms/${id}`);
    step('runningView', { state: metrics.json.state, engine: metrics.json.engine });
    const stop = await call(url, token, 'POST', `/api/v1/vms/${id}/stop?timeoutSeconds=60`);
    step('stopTask', await waitForTask(url, token, stop.json.task.id, 120_000));
    out['stoppedConsole'] = (await call(url, token, 'GET', `/api/v1/vms/${id}/console/log`)).text.slice(-600);
    step('finalState', (await waitForState(url, token, id, 'stopped', 30_000)).state);
    step('delete', (await call(url, token, 'DELETE', `/api/v1/vms/${id}`)).status);
  } catch (e) {
    out['error'] = (e as Error).stack;
  } finally {
    out['daemonLog'] = log.slice(-3000);
    save();
    daemon.kill('SIGTERM');
    await sleep(3000);
    process.exit(0);
  }
}
