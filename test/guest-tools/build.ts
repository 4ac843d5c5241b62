/** Builds the static guest tools (vsock-echo) once per source hash into .cache/guest-tools/. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/repo.js';

export function buildGuestTools(): { vsockEcho: string } {
  const src = join(repoRoot(), 'test/guest-tools/vsock-echo.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const dir = join(repoRoot(), '.cache/guest-tools', hash);
  const out = join(dir, 'vsock-echo');
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('cc', ['-static', '-O2', '-o', `${out}.tmp`, src]);
    renameSync(`${out}.tmp`, out);
  }
  return { vsockEcho: out };
}
