/**
 * Test helpers: a real daemon process (`typevisor serve` under tsx) on a random loopback port with a temp data
 * directory, a small HTTP client and WebSocket helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { dumpDatabase } from '../../src/platform/store/database.js';

/** node arguments that run the platform CLI: the .ts entry under tsx, or the compiled one from dist/. */
export function cliArgs(...args: string[]): string[] {
  const ts = join(import.meta.dirname, 'cli-entry.ts');
  return existsSync(ts) ? ['--import', 'tsx', ts, ...args] : [join(import.meta.dirname, 'cli-entry.js'), ...args];
}

export interface DaemonProcess {
  url: string;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tv-platform-'));
}

export async function startDaemon(opts: { dataDir?: string; token?: string; demo?: boolean } = {}): Promise<DaemonProcess> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const token = opts.token ?? `tv_test_${randomBytes(16).toString('hex')}`;
  const args = cliArgs('serve', '--data', dataDir, '--listen', '127.0.0.1:0');
  if (opts.demo !== true) args.push('--no-demo');
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, TYPEVISOR_BOOTSTRAP_TOKEN: token, TYPEVISOR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in 30 s:\n${out}`)), 30_000);
    const check = (): void => {
      const m = /listening on (http\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    token,
    dataDir,
    proc,
    output: () => out,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Reply {
  status: number;
  json: any;  
  text: string;
}

export async function call(url: string, token: string | null, method: string, path: string, body?: unknown, rawBody?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  let payload: string | undefined;
  if (rawBody !== undefined) {
    payload = rawBody;
    headers['content-type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(url + path, { method, headers, body: payload });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

export function dbDump(dataDir: string): Record<string, unknown[]> {
  const db = new Database(join(dataDir, 'typevisor.db'), { readonly: true });
  try {
    // vm_metrics is a time series the sampler appends to every 5 s; it is not state a request could change.
    return dumpDatabase(db, ['vm_metrics']);
  } finally {
    db.close();
  }
}

/**
 * Messages that arrived before a ConsoleReader took the socket over: the server
 * replays console history right after the upgrade, and ws may deliver those
 * frames before the caller's `await openWs(...)` continuation runs.
 */
const earlyMessages = new WeakMap<WebSocket, { frames: Buffer[]; listener: (d: Buffer) => void }>();

export function openWs(url: string, path: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + path, { headers: { authorization: `Bearer ${token}` } });
    const frames: Buffer[] = [];
    const listener = (d: Buffer): void => void frames.push(d);
    ws.on('message', listener);
    earlyMessages.set(ws, { frames, listener });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket refused: ${res.statusCode}`)));
  });
}

/** Collects a console WebSocket's bytes; waitFor resolves once the text contains `needle`. */
export class ConsoleReader {
  text = '';
  private waiters: { needle: string | RegExp; resolve: () => void }[] = [];

  constructor(readonly ws: WebSocket) {
    const early = earlyMessages.get(ws);
    if (early) {
      ws.off('message', early.listener);
      earlyMessages.delete(ws);
      this.text = Buffer.concat(early.frames).toString('utf8');
    }
    ws.on('message', (d: Buffer) => {
      this.text += d.toString('utf8');
      this.waiters = this.waiters.filter((w) => {
        const hit = typeof w.needle === 'string' ? this.text.includes(w.needle) : w.needle.test(this.text);
        if (hit) w.resolve();
        return !hit;
      });
    });
  }

  waitFor(needle: string | RegExp, timeoutMs = 60_000): Promise<void> {
    const hit = typeof needle === 'string' ? this.text.includes(needle) : needle.test(this.text);
    if (hit) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`console never showed ${needle}; got:\n${this.text.slice(-2000)}`)), timeoutMs);
      this.waiters.push({ needle, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

export async function waitForTask(url: string, token: string, id: string, timeoutMs = 90_000): Promise<any> {  
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(url, token, 'GET', `/api/v1/tasks/${id}`);
    if (r.json?.status === 'succeeded' || r.json?.status === 'failed') return r.json;
    if (Date.now() > end) throw new Error(`task ${id} still ${r.json?.status} after ${timeoutMs} ms`);
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

export async function waitForState(url: string, token: string, vm: string, state: string, timeoutMs = 60_000): Promise<any> {  
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(url, token, 'GET', `/api/v1/vms/${vm}`);
    if (r.json?.state === state) return r.json;
    if (Date.now() > end) throw new Error(`vm ${vm} is ${r.json?.state} (${r.json?.stateReason}), not ${state}, after ${timeoutMs} ms`);
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

export function cleanup(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * One HTTP request over node:http that settles on the response even when the server answered before reading
 * the whole body (a 413 for an oversized upload: writing the rest then fails with EPIPE/ECONNRESET).
 */
export function rawHttp(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      answered = true;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}
