/**
 * `typevisor run` with bad input (issue 2): each case exits non-zero with a
 * message naming the problem, and leaves nothing running. None of these need
 * KVM: the kernel and memory checks come before /dev/kvm is opened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/repo.js';
import { cloudKernelPath } from '../helpers/artifacts.js';

const bin = join(repoRoot(), 'bin/typevisor.js');

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'run', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
    input: '',
  });
  return { status: r.status, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'tv-bad-input-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('missing kernel file', () => {
  const r = run(['--kernel', join(dir, 'nope')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /kernel .*nope does not exist/);
});

test('a file that is not a kernel', () => {
  const r = run(['--kernel', '/etc/passwd']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a (Linux )?kernel|neither a bzImage nor an ELF/i);
});

test('--memory 0, --cpus 0, --cpus 999', () => {
  const kernel = '/etc/passwd';
  let r = run(['--kernel', kernel, '--memory', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--memory must be/);
  r = run(['--kernel', kernel, '--cpus', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--cpus must be an integer from 1 to 32, got 0/);
  r = run(['--kernel', kernel, '--cpus', '999']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--cpus must be an integer from 1 to 32, got 999/);
  r = run(['--kernel', kernel, '--cpus', 'two']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--cpus must be an integer/);
});

const kernel = cloudKernelPath();
const noKernel = !kernel && 'Debian cloud kernel not fetched (scripts/fetch-kernels.sh)';

test('a truncated bzImage', { skip: noKernel }, () => {
  const bytes = readFileSync(kernel!);
  const truncated = join(dir, 'truncated-bzImage');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const r = run(['--kernel', truncated]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /truncated/i);
});

test('an initrd bigger than guest memory', { skip: noKernel }, () => {
  const initrd = join(dir, 'huge-initrd');
  const fd = openSync(initrd, 'w');
  ftruncateSync(fd, 160 * 1024 * 1024);
  closeSync(fd);
  const r = run(['--kernel', kernel!, '--initrd', initrd, '--memory', '128']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /initrd.*(does not fit|too big|larger)/i);
});

test('no usable /dev/kvm (--kvm and TYPEVISOR_KVM point elsewhere)', { skip: noKernel }, () => {
  let r = run(['--kernel', kernel!, '--kvm', join(dir, 'no-such-kvm')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no-such-kvm does not exist: this host has no usable KVM/);
  r = run(['--kernel', kernel!], { TYPEVISOR_KVM: '/etc/passwd' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/etc\/passwd/);
  assert.ok(existsSync(bin));
});

test('typevisor vmm stopped by SIGTERM before any guest was configured exits 0 and removes its socket', async () => {
  const { spawn } = await import('node:child_process');
  const sock = join(dir, 'idle-vmm.sock');
  const child = spawn(process.execPath, [bin, 'vmm', '--api-sock', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const until = Date.now() + 30_000;
  while (!existsSync(sock) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(sock), `the API socket appeared (${stderr})`);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `exit code after SIGTERM (a SIGKILL after 15 s gives null)\n${stderr}`);
  assert.ok(!existsSync(sock), 'the socket is removed');
});
