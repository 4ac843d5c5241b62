/**
 * The platform CLI (vm, task, user, token) against a real daemon: tables, --json, errors with exit codes,
 * password on stdin, and server/token from flags, environment or the config file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoBoot } from '../../src/platform/demo.js';
import { cleanup, cliArgs, startDaemon, tempDataDir, type DaemonProcess } from './helpers.js';

let d: DaemonProcess;
let home: string;

before(async () => {
  d = await startDaemon();
  home = tempDataDir();
});

after(async () => {
  await d.stop();
  cleanup(d.dataDir);
  cleanup(home);
});

function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: Record<string, string | undefined> = { ...process.env, XDG_CONFIG_HOME: join(home, 'config'), TYPEVISOR_SERVER: d.url, TYPEVISOR_TOKEN: d.token, ...opts.env };
    for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
    const p = spawn(process.execPath, cliArgs(...args), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b));
    p.stderr.on('data', (b: Buffer) => (stderr += b));
    p.stdin.end(opts.stdin ?? '');
    // 'close', not 'exit': the process can exit before its last output has been read from the pipes.
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('vm create, list (table and JSON), show, edit, wrong-state errors, delete', async () => {
  const boot = (await demoBoot())!;
  let r = await cli(['vm', 'create', 'cli-vm', '--kernel', boot.kernel, '--initrd', boot.initrd!, '--cmdline', 'console=ttyS0', '--memory', '128']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created cli-vm .* on engine qemu/);
  r = await cli(['vm', 'list']);
  assert.match(r.stdout, /^NAME\s+STATE\s+ENGINE/m);
  assert.match(r.stdout, /^cli-vm\s+stopped\s+qemu\s+1\s+128 MiB/m);
  r = await cli(['vm', 'list', '--json']);
  const vms = JSON.parse(r.stdout) as { name: string; memoryMiB: number }[];
  assert.deepEqual(vms.map((v) => [v.name, v.memoryMiB]), [['cli-vm', 128]]);
  r = await cli(['vm', 'edit', 'cli-vm', '--vcpus', '2', '--json']);
  assert.equal(JSON.parse(r.stdout).vcpus, 2);
  r = await cli(['vm', 'show', 'cli-vm']);
  assert.match(r.stdout, /^state\s+stopped/m);
  r = await cli(['vm', 'stop', 'cli-vm']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot stop vm cli-vm: it is stopped .*\[409 conflict\]/);
  r = await cli(['vm', 'create', 'Bad_Name', '--kernel', boot.kernel]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /field: name/);
  r = await cli(['vm', 'delete', 'cli-vm']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['vm', 'show', 'cli-vm']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not found/);
});

test('users with the password on stdin, tokens, tasks', async () => {
  let r = await cli(['user', 'add', 'bob', '--role', 'viewer', '--password-stdin'], { stdin: 'a long password\n' });
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['user', 'list', '--json']);
  assert.deepEqual((JSON.parse(r.stdout) as { name: string }[]).map((u) => u.name), ['bob']);
  r = await cli(['user', 'add', 'eve', '--role', 'viewer']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--password-stdin/);
  r = await cli(['token', 'create', 'robot', '--role', 'viewer']);
  assert.equal(r.code, 0, r.stderr);
  const secret = r.stdout.trim();
  assert.match(secret, /^tv_/);
  r = await cli(['vm', 'list', '--json'], { env: { TYPEVISOR_TOKEN: secret } });
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['token', 'list'], { env: { TYPEVISOR_TOKEN: secret } });
  assert.equal(r.code, 1, 'a viewer cannot list tokens');
  assert.match(r.stderr, /403 forbidden/);
  r = await cli(['task', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout)));
  r = await cli(['token', 'revoke', 'robot']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['vm', 'list'], { env: { TYPEVISOR_TOKEN: secret } });
  assert.match(r.stderr, /unknown or expired token/);
});

test('server and token from the config file; flags win', async () => {
  mkdirSync(join(home, 'config', 'typevisor'), { recursive: true });
  writeFileSync(join(home, 'config', 'typevisor', 'config.json'), JSON.stringify({ server: d.url, token: d.token }));
  let r = await cli(['vm', 'list', '--json'], { env: { TYPEVISOR_SERVER: '', TYPEVISOR_TOKEN: '' } });
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['vm', 'list', '--token', 'tv_wrong'], { env: { TYPEVISOR_SERVER: '', TYPEVISOR_TOKEN: '' } });
  assert.equal(r.code, 1);
  r = await cli(['vm', 'list', '--server', 'http://127.0.0.1:1'], { env: { TYPEVISOR_SERVER: '' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the daemon/);
});
