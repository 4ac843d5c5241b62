import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root, from source (tsx) or from dist/. */
export function repoRoot(): string {
  if (process.env['TYPEVISOR_REPO']) return process.env['TYPEVISOR_REPO'];
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) dir = dirname(dir);
  return dir;
}
