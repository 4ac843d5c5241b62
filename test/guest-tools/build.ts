/** Builds the static guest tools (vsock-echo, diskbench) once per source hash into .cache/guest-tools/. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/repo.js';

/** Compiles test/guest-tools/NAME.c into a static binary (cached by source hash) and returns its path. */
function buildStaticTool(name: string, extraFlags: readonly string[] = []): string {
  const src = join(repoRoot(), 'test/guest-tools', `${name}.c`);
  const hash = createHash('sha256').update(readFileSync(src)).update(extraFlags.join(' ')).digest('hex').slice(0, 16);
  const dir = join(repoRoot(), '.cache/guest-tools', hash);
  const out = join(dir, name);
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('cc', ['-static', '-O2', '-o', `${out}.tmp`, src, ...extraFlags]);
    renameSync(`${out}.tmp`, out);
  }
  return out;
}

export function buildGuestTools(): { vsockEcho: string } {
  return { vsockEcho: buildStaticTool('vsock-echo') };
}

/** The O_DIRECT block benchmark used by `npm run bench:io` (threads give the queue depth). */
export function buildDiskbench(): string {
  return buildStaticTool('diskbench', ['-pthread']);
}
