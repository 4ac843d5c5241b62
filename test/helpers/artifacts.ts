import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo.js';

/** The Debian cloud bzImage fetched by scripts/fetch-kernels.sh, or undefined. */
export function cloudKernelPath(): string | undefined {
  const p = join(repoRoot(), '.cache/kernels/cloud/vmlinuz');
  return existsSync(p) ? p : undefined;
}

export function cloudVmlinuxPath(): string | undefined {
  const p = join(repoRoot(), '.cache/kernels/cloud/vmlinux');
  return existsSync(p) ? p : undefined;
}
