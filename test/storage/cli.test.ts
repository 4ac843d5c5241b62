/** The storage/volume/image/network CLI against a real daemon (--json output, upload/download round trip, errors). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cleanup, startDaemon, tempDataDir, type DaemonProcess } from '../platform/helpers.js';

const run = promisify(execFile);
// Under tsx the .ts entry; in the compiled tree (scripts/run-tests.mjs) its .js build.
const ENTRY = ['cli-entry.ts', 'cli-entry.js'].map((f) => path.join(import.meta.dirname, '..', 'platform', f)).find((f) => fs.existsSync(f))!;
let d: DaemonProcess;
let dataDir: string;

before(async () => {
  dataDir = tempDataDir();
  d = await startDaemon({ dataDir });
});
after(async () => {
  await d.stop();
  cleanup(dataDir);
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', ENTRY, ...args, '--server', d.url, '--token', d.token], { env: { ...process.env, XDG_CONFIG_HOME: dataDir } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('volume create/list/resize/upload/download and image recipes through the CLI', async () => {
  const created = await cli('volume', 'create', 'cli-disk', '--size', '16M', '--json');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).virtualSizeBytes, 16 * 1024 * 1024);
  const shrink = await cli('volume', 'resize', 'cli-disk', '--size', '8M');
  assert.notEqual(shrink.code, 0);
  assert.match(shrink.stderr, /refusing to shrink/);

  const src = path.join(dataDir, 'upload.bin');
  const data = Buffer.alloc(3 * 1024 * 1024 + 512, 9);
  fs.writeFileSync(src, data);
  const up = await cli('volume', 'upload', src, '--name', 'cli-up', '--json');
  assert.equal(up.code, 0, up.stderr);
  assert.equal(JSON.parse(up.stdout).sha256, createHash('sha256').update(data).digest('hex'));
  const out = path.join(dataDir, 'download.bin');
  const down = await cli('volume', 'download', 'cli-up', out);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(fs.readFileSync(out), data);

  const list = await cli('volume', 'list', '--json');
  assert.deepEqual(JSON.parse(list.stdout).map((v: { name: string }) => v.name), ['cli-disk', 'cli-up']);
  const table = await cli('volume', 'list');
  assert.match(table.stdout, /^NAME\s+FORMAT\s+SIZE/);
  assert.match(table.stdout, /cli-disk\s+qcow2\s+16\.0 MiB/);

  const recipes = await cli('image', 'recipes', '--json');
  assert.deepEqual(JSON.parse(recipes.stdout).map((r: { name: string }) => r.name), ['tiny', 'debian-12', 'debian-12-minimal']);
  const badRecipe = await cli('image', 'build', 'windows', '--name', 'w');
  assert.notEqual(badRecipe.code, 0);
  assert.match(badRecipe.stderr, /recipe/);
  const pools = await cli('storage', 'list', '--json');
  assert.equal(JSON.parse(pools.stdout)[0].name, 'local');
  const badPool = await cli('storage', 'add', 'nope', '--path', '/does/not/exist');
  assert.notEqual(badPool.code, 0);
  assert.match(badPool.stderr, /does not exist/);
  for (const v of ['cli-disk', 'cli-up']) assert.equal((await cli('volume', 'delete', v)).code, 0);
});

test('network create/list/delete through the CLI (isolated)', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const c = await cli('network', 'create', 'cli-net', '--subnet', '10.217.5.0/24', '--json');
  assert.equal(c.code, 0, c.stderr);
  assert.equal(JSON.parse(c.stdout).nat, false);
  const overlap = await cli('network', 'create', 'cli-net2', '--subnet', '10.217.0.0/16');
  assert.notEqual(overlap.code, 0);
  assert.match(overlap.stderr, /overlaps network cli-net/);
  const table = await cli('network', 'list');
  assert.match(table.stdout, /cli-net\s+10\.217\.5\.0\/24\s+10\.217\.5\.1\s+no \(isolated\)/);
  assert.equal((await cli('network', 'delete', 'cli-net')).code, 0);
});
