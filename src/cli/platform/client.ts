/**
 * The CLI's connection to a node daemon: where (flag, TYPEVISOR_SERVER, or
 * ~/.config/typevisor/config.json) and with which token (flag,
 * TYPEVISOR_TOKEN, config), JSON requests, the event WebSocket and task
 * following. Other CLI groups (storage, image, network) reuse these helpers.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import WebSocket from 'ws';

export interface Connection {
  server: string;
  token: string | undefined;
  /** Accept the daemon's self-signed certificate without checking it. */
  insecure: boolean;
  /** PEM file of the daemon's certificate to trust (e.g. copied from <data>/tls/cert.pem). */
  ca: string | undefined;
}

interface ConfigFile {
  server?: string;
  token?: string;
  insecure?: boolean;
  ca?: string;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8006';

export function configPath(): string {
  return join(process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'typevisor', 'config.json');
}

/** The options every daemon-talking command takes. */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', `daemon URL (env TYPEVISOR_SERVER, config file; default ${DEFAULT_SERVER})`)
    .option('--token <token>', 'API or session token (env TYPEVISOR_TOKEN, config file)')
    .option('--insecure', 'accept a self-signed daemon certificate without verification')
    .option('--json', 'print JSON instead of tables');
}

export function resolveConnection(opts: { server?: string; token?: string; insecure?: boolean }): Connection {
  let file: ConfigFile = {};
  const path = configPath();
  if (existsSync(path)) {
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as ConfigFile;
    } catch (e) {
      throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
    }
  }
  const server = (opts.server ?? process.env['TYPEVISOR_SERVER'] ?? file.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(server)) throw new CliError(`server must be http(s)://HOST:PORT, got ${JSON.stringify(server)}`);
  return {
    server,
    token: opts.token ?? process.env['TYPEVISOR_TOKEN'] ?? file.token,
    insecure: opts.insecure ?? file.insecure ?? false,
    ca: file.ca,
  };
}

export class CliError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

export interface RawResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

export class ApiClient {
  constructor(readonly conn: Connection) {}

  raw(method: string, path: string, body?: unknown): Promise<RawResponse> {
    const url = new URL(path, this.conn.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.conn.token) headers['authorization'] = `Bearer ${this.conn.token}`;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const tls = url.protocol === 'https:';
    const send = tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { method, headers, ...(tls ? { rejectUnauthorized: !this.conn.insecure, ...(this.conn.ca ? { ca: readFileSync(this.conn.ca) } : {}) } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', (e) => reject(new CliError(`cannot reach the daemon at ${this.conn.server}: ${e.message}`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** JSON request; non-2xx answers become a CliError with the daemon's message. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    const text = res.body.toString('utf8');
    let parsed: unknown = undefined;
    if (text.length > 0 && res.contentType.includes('json')) parsed = JSON.parse(text);
    if (res.status >= 400) {
      const err = (parsed as { error?: { code: string; message: string; field?: string } } | undefined)?.error;
      const msg = err ? `${err.message}${err.field ? ` (field: ${err.field})` : ''} [${res.status} ${err.code}]` : `HTTP ${res.status}: ${text.slice(0, 200)}`;
      throw new CliError(msg, res.status);
    }
    return (parsed ?? text) as T;
  }

  /** Open a WebSocket on the daemon (token in the header). */
  websocket(path: string): WebSocket {
    const url = new URL(path, this.conn.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new WebSocket(url, {
      headers: this.conn.token ? { authorization: `Bearer ${this.conn.token}` } : {},
      rejectUnauthorized: !this.conn.insecure,
      ...(this.conn.ca ? { ca: readFileSync(this.conn.ca) } : {}),
    });
  }
}

export function clientFrom(cmd: Command): { api: ApiClient; json: boolean } {
  const opts = cmd.optsWithGlobals() as { server?: string; token?: string; insecure?: boolean; json?: boolean };
  return { api: new ApiClient(resolveConnection(opts)), json: opts.json === true };
}
