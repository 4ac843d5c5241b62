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

/** Serializes builds that share a cache directory (two image builds, or two test runs). */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(dir, { recursive: true });
  const lockFile = path.join(dir, '.lock');
  for (;;) {
    try {
      await fs.mkdir(lockFile);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than 2 hours is from a crashed builder.
      const st = await fs.stat(lockFile).catch(() => null);
      if (st && Date.now() - st.mtimeMs > 2 * 3600_000) await fs.rm(lockFile, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { recursive: true, force: true });
  }
}
