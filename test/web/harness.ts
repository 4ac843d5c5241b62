/**
 * Harness for the web UI tests and benchmark: the built UI (web/dist), a real daemon on a fixed free loopback
 * port (so a browser page survives a daemon restart on the same origin), and headless Chromium through
 * playwright-core with a fresh profile.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type BrowserContext } from 'playwright-core';

/** The repository (this file runs from test/web under tsx and from dist/test/web when compiled). */
export const REPO = findRepo();
/** The platform CLI the platform tests use: the .ts under tsx, the compiled .js in dist. */
const CLI_TS = join(import.meta.dirname, '..', 'platform', 'cli-entry.ts');
const CLI_ARGS = existsSync(CLI_TS) ? ['--import', 'tsx', CLI_TS] : [join(import.meta.dirname, '..', 'platform', 'cli-entry.js')];

function findRepo(): string {
  if (process.env['TYPEVISOR_REPO']) return process.env['TYPEVISOR_REPO'];
  let dir = import.meta.dirname;
  for (let i = 0; i < 6 && !existsSync(join(dir, 'web', 'vite.config.ts')); i++) dir = dirname(dir);
  return dir;
}
export const SCREENSHOTS = join(REPO, 'test-output', 'web');

/** Builds web/dist unless it is there (scripts/setup.sh normally has built it). */
export function ensureUiBuilt(): void {
  if (existsSync(join(REPO, 'web', 'dist', 'index.html'))) return;
  const r = spawnSync(process.execPath, [join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface WebDaemon {
  url: string;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves true when SIGTERM sufficed. */
  stop(graceMs?: number): Promise<boolean>;
  kill9(): Promise<void>;
}

/** `typevisor serve` (under tsx) with TYPEVISOR_BOOTSTRAP_TOKEN; resolves once it listens. */
export async function startWebDaemon(opts: { dataDir?: string; port?: number; token?: string } = {}): Promise<WebDaemon> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'tv-web-'));
  const port = opts.port ?? (await freePort());
  const token = opts.token ?? `tv_web_${randomBytes(16).toString('hex')}`;
  const proc = spawn(process.execPath, [...CLI_ARGS, 'serve', '--data', dataDir, '--listen', `127.0.0.1:${port}`, '--no-demo'], {
    cwd: REPO,
    env: { ...process.env, TYPEVISOR_BOOTSTRAP_TOKEN: token, TYPEVISOR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in 60 s:\n${out}`)), 60_000);
    proc.stdout!.on('data', () => {
      if (/listening on http/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`daemon exited:\n${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    dataDir,
    proc,
    output: () => out,
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return true;
      proc.kill('SIGTERM');
      let timer: ReturnType<typeof setTimeout> | undefined;
      const clean = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
      clearTimeout(timer);
      if (!clean) {
        proc.kill('SIGKILL');
        await exited;
      }
      return clean;
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export async function apiCall(d: { url: string }, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {  
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(d.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function waitForTask(d: { url: string }, token: string, id: string, timeoutMs: number): Promise<any> {  
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await apiCall(d, token, 'GET', `/api/v1/tasks/${id}`);
    if (r.json?.status === 'succeeded' || r.json?.status === 'failed') return r.json;
    if (Date.now() > end) throw new Error(`task ${id} still ${r.json?.status} after ${timeoutMs} ms`);
    await new Promise((r2) => setTimeout(r2, 500));
  }
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium (Debian's /usr/bin/chromium) with a fresh profile directory, removed on close. */
export async function launchBrowser(viewport = { width: 1440, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tv-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env['CHROMIUM'] ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, `${name}.png`);
}
