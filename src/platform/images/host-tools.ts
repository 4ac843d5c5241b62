/**
 * Helpers the image recipes share: running host tools with their output
 * streamed into the task log, a per-directory lock, and locating the
 * repository's scripts/ directory.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildLog {
  log(line: string): void;
}

/** Runs a command, streaming each output line to `log`; rejects with the last lines on failure. */
export function runLogged(
  cmd: string,
  args: string[],
  log: BuildLog,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (buf: Buffer, pending: { text: string }) => {
      pending.text += buf.toString('utf8');
      const lines = pending.text.split(/\r?\n|\r/);
      pending.text = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        log.log(`${path.basename(cmd)}: ${line}`);
        opts.onLine?.(line);
        tail.push(line);
        if (tail.length > 8) tail.shift();
      }
    };
    const out = { text: '' };
    const err = { text: '' };
    child.stdout.on('data', (b: Buffer) => onData(b, out));
    child.stderr.on('data', (b: Buffer) => onData(b, err));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} ... exited with ${code ?? signal}: ${tail.slice(-3).join(' | ')}`));
    });
  });
}

/** The repository root (the directory holding package.json and scripts/), from src/ or dist/src/. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'scripts'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the typevisor repository root (package.json + scripts/)');
}

/** Whether the process that wrote a lock's owner file is gone (so the lock is stale). */
async function lockOwnerGone(lockDir: string): Promise<boolean> {
  const owner = await fs.readFile(path.join(lockDir, 'owner'), 'utf8').catch(() => undefined);
  if (owner === undefined) {
    // Between mkdir and writing the owner file, or a lock from before owners were recorded: judge by age.
    const st = await fs.stat(lockDir).catch(() => null);
    return st !== null && Date.now() - st.mtimeMs > 60_000;
  }
  const pid = Number.parseInt(owner, 10);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Serializes builds that share a cache directory (two image builds, or two test runs). The lock is a directory
 * holding its owner's pid: a builder that was killed leaves it behind, and the next one takes it over at once
 * instead of waiting for it to age.
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(dir, { recursive: true });
  const lockDir = path.join(dir, '.lock');
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      await fs.writeFile(path.join(lockDir, 'owner'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await lockOwnerGone(lockDir)) {
        await fs.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}
