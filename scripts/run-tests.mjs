#!/usr/bin/env node
// Runs the test suite with Node's built-in runner over the compiled tree.
//   node scripts/run-tests.mjs            everything (unit, KVM, platform, lab when enabled, web)
//   node scripts/run-tests.mjs --unit     only unit tests beside the code (src/**)
//   node scripts/run-tests.mjs PATTERN... only test files whose path contains a pattern
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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
console.log(`run-tests: ${files.length} test files`);
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
  { cwd: root, stdio: 'inherit', env: { ...process.env, TYPEVISOR_REPO: root } },
);
process.exit(result.status ?? 1);
