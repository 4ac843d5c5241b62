/**
 * Builds the freestanding test guest (test/guest/*.c, entry.S, guest.ld) with the host's gcc, once per source
 * version: the ELF is cached under <repo>/.cache/test-guest/<hash of the sources>/guest.elf.
 *
 * The guest has two entries: e_entry for the VMM's 64-bit Linux-style entry (RSI = boot_params), and a
 * XEN_ELFNOTE_PHYS32_ENTRY note for PVH (QEMU -kernel, or the VMM's PVH path). See test/guest/README.md.
 */

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * The repository root, from test/guest (tsx) or a compiled copy such as dist/test/guest: TYPEVISOR_REPO when set
 * (scripts/run-tests.mjs sets it), else the nearest ancestor of this module holding test/guest/build.sh. The C
 * sources are not copied into dist/, so they are always read from <repo>/test/guest.
 */
function findRepoRoot(): string {
  const fromEnv = process.env['TYPEVISOR_REPO'];
  if (fromEnv && existsSync(join(fromEnv, 'test', 'guest', 'build.sh'))) return fromEnv;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'test', 'guest', 'build.sh'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('test/guest/build.ts: cannot find the repository (no test/guest/build.sh above this module)');
    dir = parent;
  }
}

const REPO_ROOT = findRepoRoot();
export const TEST_GUEST_SOURCE_DIR = join(REPO_ROOT, 'test', 'guest');
export const TEST_GUEST_CACHE_DIR = join(REPO_ROOT, '.cache', 'test-guest');
const SOURCE_PATTERN = /\.(c|h|S|ld|sh)$/;

/** A hash over every file the build reads, so any edit yields a fresh build. */
export async function testGuestSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const names = (await readdir(TEST_GUEST_SOURCE_DIR)).filter((n) => SOURCE_PATTERN.test(n)).sort();
  for (const name of names) {
    hash.update(name).update('\0');
    hash.update(await readFile(join(TEST_GUEST_SOURCE_DIR, name))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

let pending: Promise<string> | undefined;

/** Returns the path of the built test guest ELF, building it if the sources changed. */
export function buildTestGuest(): Promise<string> {
  pending ??= build().catch((error: unknown) => {
    pending = undefined; // let a later call retry
    throw error;
  });
  return pending;
}

async function build(): Promise<string> {
  const dir = join(TEST_GUEST_CACHE_DIR, await testGuestSourceHash());
  const elf = join(dir, 'guest.elf');
  if (existsSync(elf)) return elf;
  await mkdir(dir, { recursive: true });
  // Build under a unique name and rename: concurrent test processes never see a half-written ELF.
  const partial = join(dir, `guest.elf.${process.pid}.${Date.now()}.tmp`);
  try {
    await execFileAsync('sh', [join(TEST_GUEST_SOURCE_DIR, 'build.sh'), partial], { timeout: 120_000 });
    await rename(partial, elf);
    await pruneOtherBuilds(dir);
  } catch (error) {
    await rm(partial, { force: true });
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`building the test guest failed: ${(error as Error).message}\n${stderr}`);
  }
  return elf;
}

/**
 * Builds of other source versions that nobody built for this long are dropped. Not at once: worktrees on one
 * machine share the cache, and another engineer's test (a KVM lab run, say) may still be using its own version.
 */
const STALE_BUILD_MS = 24 * 60 * 60 * 1000;

/** Drops stale builds of other source versions, so the cache does not grow with every edit. */
async function pruneOtherBuilds(keep: string): Promise<void> {
  for (const name of await readdir(TEST_GUEST_CACHE_DIR)) {
    const path = join(TEST_GUEST_CACHE_DIR, name);
    if (path === keep || !/^[0-9a-f]{16}$/.test(name)) continue;
    const built = await stat(path).then((s) => s.mtimeMs, () => Date.now());
    if (Date.now() - built > STALE_BUILD_MS) await rm(path, { recursive: true, force: true });
  }
}
