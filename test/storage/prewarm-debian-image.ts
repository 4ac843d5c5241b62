/**
 * Builds the `debian-12-minimal` root filesystem into the shared image cache (.cache/images, or
 * TYPEVISOR_IMAGE_CACHE) in the background while the suite's first test files run, so that
 * debian-image.test.ts finds it cached instead of spending two minutes of the suite's time on mmdebstrap in the
 * foreground. scripts/run-tests.mjs starts it; the recipe's cache lock makes the test wait for a build still
 * running, and a failed build here leaves no cache entry, so the test then builds (and reports the failure) itself.
 * The cold build's figures go to prewarm-debian-report.json beside the cache, where the test prints them from.
 *
 *   node dist/test/storage/prewarm-debian-image.js
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { debianMinimalRecipe } from '../../src/platform/images/recipes/debian-minimal.js';
import { repoRoot } from '../../src/platform/images/host-tools.js';

export const PREWARM_REPORT = 'prewarm-debian-report.json';

export interface PrewarmReport {
  recipe: string;
  startedAt: string;
  seconds: number;
  cached: boolean;
  /** The recipe's own timing lines ("mmdebstrap phases: ...", "build phases: ..."). */
  phases: string[];
}

export function imageCacheDir(): string {
  return process.env['TYPEVISOR_IMAGE_CACHE'] ?? path.join(repoRoot(), '.cache', 'images');
}

async function main(): Promise<void> {
  const cacheDir = imageCacheDir();
  await mkdir(cacheDir, { recursive: true });
  await rm(path.join(cacheDir, PREWARM_REPORT), { force: true }); // a report from an earlier run must not pass for this one
  const workDir = await mkdtemp(path.join(cacheDir, '.prewarm-'));
  const started = Date.now();
  const lines: string[] = [];
  try {
    await debianMinimalRecipe.build({
      workDir,
      cacheDir,
      log: (line) => {
        lines.push(line);
        process.stdout.write(`${line}\n`);
      },
      progress: () => undefined,
    });
    const report: PrewarmReport = {
      recipe: debianMinimalRecipe.name,
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      cached: lines.some((l) => /root filesystem cached/.test(l)),
      phases: lines.filter((l) => /phases:/.test(l)),
    };
    await writeFile(path.join(cacheDir, PREWARM_REPORT), JSON.stringify(report, null, 2));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  await main();
}
