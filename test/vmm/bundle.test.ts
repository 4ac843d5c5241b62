/**
 * VMM verbs run the esbuild bundle of the VMM (scripts/bundle-vmm.mjs, built
 * by `npm run build`, the setup script and the test runner): the same code as
 * dist/src, in a few files. These check that bin/typevisor.js picks it, that
 * TYPEVISOR_NO_BUNDLE falls back to dist/src, and that the bundle behaves as
 * the modules do on the paths that need no KVM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/repo.js';

const root = repoRoot();
const bin = join(root, 'bin/typevisor.js');

function typevisor(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TYPEVISOR_DEBUG: '1', ...env }, input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('the bundle is built, newer than the compiled sources, with a script per thread kind next to the CLI', () => {
  const bundle = join(root, 'dist/bundle');
  for (const entry of ['main.js', 'thread-pool.js', 'device-worker.cjs', 'vcpu-worker.cjs']) assert.ok(existsSync(join(bundle, entry)), `dist/bundle/${entry}`);
  assert.ok(statSync(join(bundle, 'main.js')).mtimeMs >= statSync(join(root, 'dist/src/cli/main.js')).mtimeMs);
  assert.ok(readdirSync(bundle).length < 30, 'a few files, not one per module');
});

test("the bundle's threads start from their CommonJS scripts and load the native addon", () => {
  // thread-pool.js of the bundle starts device-worker.cjs and vcpu-worker.cjs; each finds the addon from its own path.
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-bundle-'));
  try {
    const script = join(dir, 'threads.mjs');
    writeFileSync(
      script,
      `const pool = await import(${JSON.stringify(pathToFileURL(join(root, 'dist/bundle/thread-pool.js')).href)});
      pool.prestartThreads({ device: 1, vcpu: 1 });
      await new Promise((r) => setTimeout(r, 3000));
      await pool.stopIdleThreads();`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, TYPEVISOR_DEBUG: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /vCPU thread: native addon loaded/);
    assert.match(r.stderr, /device thread: device code warmed up/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('VMM verbs load the bundle; TYPEVISOR_NO_BUNDLE=1 loads dist/src; platform verbs never print either', () => {
  assert.match(typevisor(['host']).stderr, /VMM modules from dist\/bundle/);
  assert.match(typevisor(['host'], { TYPEVISOR_NO_BUNDLE: '1' }).stderr, /VMM modules from dist\/src/);
  assert.doesNotMatch(typevisor(['--help']).stderr, /VMM modules from/);
});

test('bundled and unbundled `run` refuse a file that is not a kernel with the same message', () => {
  const bundled = typevisor(['run', '--kernel', '/etc/passwd']);
  const modules = typevisor(['run', '--kernel', '/etc/passwd'], { TYPEVISOR_NO_BUNDLE: '1' });
  assert.equal(bundled.status, 1);
  assert.equal(modules.status, 1);
  const message = (s: string) => s.split('\n').filter((l) => l.startsWith('typevisor: error')).join('\n');
  assert.match(message(bundled.stderr), /is not a Linux kernel/);
  assert.equal(message(bundled.stderr), message(modules.stderr));
});
