/** `npm run bench`: every benchmark in turn (each prints its own table). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/repo.js';

for (const name of ['boot', 'snapshot', 'io', 'platform', 'web']) {
  const script = join(repoRoot(), 'dist/bench', `${name}.js`);
  if (!existsSync(script)) continue;
  console.log(`\n=== bench:${name} ===`);
  const r = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  if (r.status !== 0) console.log(`bench:${name} failed (exit ${r.status})`);
}
