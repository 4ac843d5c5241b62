#!/usr/bin/env node
// Runs the test suite with Node's built-in runner over the compiled tree.
//   node scripts/run-tests.mjs            everything (unit, KVM, platform, lab when enabled, web)
//   node scripts/run-tests.mjs --unit     only unit tests beside the code (src/**)
//   node scripts/run-tests.mjs PATTERN... only test files whose path contains a pattern
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const patterns = args.filter((a) => !a.startsWith('--'));

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('run-tests: TypeScript build failed');
  process.exit(build.status ?? 1);
}
// The VMM bundle too: VMM processes the tests spawn run what users run (bin/typevisor.js ignores a bundle older than
// the tsc output it was made from).
const bundle = spawnSync(process.execPath, [join(root, 'scripts/bundle-vmm.mjs')], { cwd: root, stdio: 'inherit' });
if (bundle.status !== 0) {
  console.error('run-tests: bundling the VMM failed');
  process.exit(bundle.status ?? 1);
}

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

let files = walk(join(root, 'dist/src'), []);
if (!unitOnly) files = files.concat(walk(join(root, 'dist/test'), []));
if (patterns.length) files = files.filter((f) => patterns.some((p) => relative(root, f).includes(p)));
files.sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
/**
 * The Debian image test spends most of its time in mmdebstrap, which is disk and package work rather than the
 * CPU-bound guests of the tests before it: build that image's root filesystem into the shared cache in the
 * background from the start (test/storage/prewarm-debian-image.ts), and let the test wait for it on the cache lock.
 */
function startDebianPrewarm() {
  if (!files.some((f) => f.endsWith('test/storage/debian-image.test.js'))) return undefined;
  if (process.getuid?.() !== 0 || (process.env.TYPEVISOR_TEST_DEBIAN_RECIPE ?? 'debian-12-minimal') !== 'debian-12-minimal') return undefined;
  if (spawnSync('sh', ['-c', 'command -v mmdebstrap'], { stdio: 'ignore' }).status !== 0) return undefined;
  const cache = process.env.TYPEVISOR_IMAGE_CACHE ?? join(root, '.cache', 'images');
  mkdirSync(cache, { recursive: true });
  const log = openSync(join(cache, 'prewarm-debian.log'), 'w');
  const child = spawn(process.execPath, [join(root, 'dist/test/storage/prewarm-debian-image.js')], {
    cwd: root,
    stdio: ['ignore', log, log],
    detached: true, // its own process group, so that mmdebstrap goes with it if it has to be stopped
  });
  console.log(`run-tests: building the debian-12-minimal root filesystem in the background (pid ${child.pid}, log ${join(cache, 'prewarm-debian.log')})`);
  return child;
}

console.log(`run-tests: ${files.length} test files`);
const prewarm = startDebianPrewarm();
const result = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/test-file-times.mjs')}`,
    '--test-reporter-destination=stdout',
    '--test-timeout=600000',
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, TYPEVISOR_REPO: root, ...(prewarm ? { TYPEVISOR_DEBIAN_PREWARM: '1' } : {}) } },
);
if (prewarm) {
  try {
    process.kill(-prewarm.pid, 'SIGKILL'); // normally long finished; the group is gone then
  } catch {
    // already gone
  }
}
process.exit(result.status ?? 1);
