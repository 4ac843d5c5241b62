/**
 * The layering of ARCHITECTURE.md, enforced: imports only point down, and
 * devices never reach KVM, system calls or the native addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from './helpers/repo.js';

/**
 * Lower index = lower layer. A module may import its own layer or lower ones.
 * `block` (disk image files) implements the DiskBackend interface the block
 * device declares, so it sits above `devices`, beside the VMM that wires them.
 */
const LAYERS = ['sys', 'kvm', 'memory', 'arch', 'boot', 'devices', 'block', 'vmm', 'api', 'lab', 'platform', 'cli'];

function layerOf(path: string): string | undefined {
  const m = /^src\/([^/]+)\//.exec(path);
  return m ? (m[1] === 'arch' ? 'arch' : m[1]) : undefined;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('imports only point down the layers; devices stay pure', () => {
  const root = repoRoot();
  const problems: string[] = [];
  for (const file of walk(join(root, 'src'))) {
    const rel = relative(root, file);
    const from = layerOf(rel);
    if (!from) continue;
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/^\s*(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) {
      const target = relative(root, resolve(dirname(file), m[1]!));
      const to = layerOf(target + '/');
      if (!to || to === from) continue;
      if (from === 'devices' && ['kvm', 'sys', 'block'].includes(to)) {
        problems.push(`${rel} imports ${target}: devices are pure (no KVM, system calls or disk files)`);
        continue;
      }
      if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) problems.push(`${rel} (${from}) imports ${target} (${to}), a higher layer`);
    }
    if (from === 'devices' && /from 'node:(fs|child_process|net)'/.test(source)) {
      problems.push(`${rel}: devices do no host I/O of their own`);
    }
  }
  assert.deepEqual(problems, []);
});
