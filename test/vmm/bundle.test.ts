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
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/repo.js';

const root = repoRoot();
const bin = join(root, 'bin/typevisor.js');

function typevisor(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TYPEVISOR_DEBUG: '1', ...env }, input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('the bundle is built, newer than the compiled sources, with an entry per thread kind next to the CLI', () => {
  const bundle = join(root, 'dist/bundle');
  for (const entry of ['main.js', 'thread-pool.js', 'device-worker.js', 'vcpu-worker.js']) assert.ok(existsSync(join(bundle, entry)), `dist/bundle/${entry}`);
  assert.ok(statSync(join(bundle, 'main.js')).mtimeMs >= statSync(join(root, 'dist/src/cli/main.js')).mtimeMs);
  assert.ok(readdirSync(bundle).length < 30, 'a few files, not one per module');
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
