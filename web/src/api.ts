/**
 * The REST client: bearer session kept in localStorage, errors in the API's
 * {error: {code, message, field?}} shape, and a connection status every page
 * can show (a lost daemon is a banner, not a silent failure).
 */
import { Observable } from './observable';

export type Role = 'admin' | 'operator' | 'viewer';
export interface Session { token: string; name: string; role: Role; kind: 'session' | 'token' }

const SESSION_KEY = 'typevisor.session';

export const session = new Observable<Session | null>(readSession());

function readSession(): Session | null {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s.token === 'string' && typeof s.role === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function setSession(s: Session | null): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  session.set(s);
}

/** Networks and images are node-wide: the API lets only admins create or delete them. */
export function isAdmin(s: Session | null): boolean {
  return s?.role === 'admin';
}

export function canOperate(s: Session | null): boolean {
  return s?.role === 'admin' || s?.role === 'operator';
}

/** 'up' once a request succeeded; 'down' when the daemon cannot be reached. */
export type Connection = { state: 'up' } | { state: 'down'; since: number; reason: string };
export const connection = new Observable<Connection>({ state: 'up' });

export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

function markDown(reason: string): void {
  const cur = connection.get();
  if (cur.state === 'up') connection.set({ state: 'down', since: Date.now(), reason });
}

function markUp(): void {
  if (connection.get().state !== 'up') connection.set({ state: 'up' });
}

export async function api<T>(method: string, path: string, body?: unknown, token = session.get()?.token): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    markDown('the typevisor daemon cannot be reached');
    throw new ApiFailure(0, 'unreachable', 'the typevisor daemon cannot be reached');
  }
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    markDown(`the daemon answered ${res.status}`);
    throw new ApiFailure(res.status, 'unavailable', `the daemon answered ${res.status}`);
  }
  markUp();
  const text = await res.text();
  let json: unknown = undefined;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    if (res.status === 401 && token === session.get()?.token && path !== '/api/v1/auth/login') setSession(null);
    throw new ApiFailure(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `${method} ${path} failed with ${res.status}`, err?.field);
  }
  return json as T;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function wsUrl(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

export async function login(user: string, password: string): Promise<Session> {
  const r = await api<{ token: string; user: { name: string; role: Role } }>('POST', '/api/v1/auth/login', { user, password }, undefined);
  const s: Session = { token: r.token, name: r.user.name, role: r.user.role, kind: 'session' };
  setSession(s);
  return s;
}

export async function loginWithToken(token: string): Promise<Session> {
  const who = await api<{ kind: string; name: string; role: Role }>('GET', '/api/v1/auth/whoami', undefined, token);
  const s: Session = { token, name: who.name, role: who.role, kind: who.kind === 'session' ? 'session' : 'token' };
  setSession(s);
  return s;
}

export async function logout(): Promise<void> {
  const s = session.get();
  if (s?.kind === 'session') await api('POST', '/api/v1/auth/logout', {}).catch(() => undefined);
  setSession(null);
}
