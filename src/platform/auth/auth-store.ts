/**
 * Users, API tokens and UI sessions in the SQLite store, and the lookup that
 * turns a bearer token into a principal.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/database.js';
import { ApiError, conflict, notFound } from '../http/api-error.js';
import { generateToken, hashPassword, hashToken, verifyPassword } from './secrets.js';
import type { Role } from './roles.js';

export interface Principal {
  kind: 'token' | 'session';
  role: Role;
  /** Token id or user id. */
  id: string;
  /** Token name or user name. */
  name: string;
}

export interface User {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  expiresAt: string | null;
}

/** UI sessions last 12 hours. */
export const SESSION_LIFETIME_MS = 12 * 3600 * 1000;

export const USER_NAME_PATTERN = '^[a-z_][a-z0-9_.-]{0,31}$';

interface UserRow { id: string; name: string; role: Role; password_hash: string; created_at: number }
interface TokenRow { id: string; name: string; role: Role; token_hash: string; created_at: number; expires_at: number | null }

const iso = (ms: number): string => new Date(ms).toISOString();
const toUser = (r: UserRow): User => ({ id: r.id, name: r.name, role: r.role, createdAt: iso(r.created_at) });
const toToken = (r: TokenRow): ApiToken => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: iso(r.created_at),
  expiresAt: r.expires_at === null ? null : iso(r.expires_at),
});

export class AuthStore {
  constructor(private readonly db: Db) {}

  /** Resolve `Authorization: Bearer <token>` (API token or session); null when unknown or expired. */
  authenticate(token: string): Principal | null {
    const hash = hashToken(token);
    const now = Date.now();
    const t = this.db.prepare('SELECT * FROM api_tokens WHERE token_hash = ?').get(hash) as TokenRow | undefined;
    if (t) {
      if (t.expires_at !== null && t.expires_at <= now) return null;
      return { kind: 'token', role: t.role, id: t.id, name: t.name };
    }
    const s = this.db
      .prepare('SELECT u.* , s.expires_at AS session_expires FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?')
      .get(hash) as (UserRow & { session_expires: number }) | undefined;
    if (s && s.session_expires > now) return { kind: 'session', role: s.role, id: s.id, name: s.name };
    return null;
  }

  hasAnyToken(): boolean {
    return this.db.prepare('SELECT 1 FROM api_tokens LIMIT 1').get() !== undefined;
  }

  /** Create an API token; the secret is returned once and only its hash is kept. */
  createToken(name: string, role: Role, opts: { secret?: string; expiresAt?: number | null } = {}): { token: ApiToken; secret: string } {
    const secret = opts.secret ?? generateToken();
    const row: TokenRow = {
      id: randomUUID(),
      name,
      role,
      token_hash: hashToken(secret),
      created_at: Date.now(),
      expires_at: opts.expiresAt ?? null,
    };
    try {
      this.db
        .prepare('INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at) VALUES (@id, @name, @role, @token_hash, @created_at, @expires_at)')
        .run(row);
    } catch (e) {
      if (String(e).includes('UNIQUE')) throw conflict('that token secret is already in use', 'secret');
      throw e;
    }
    return { token: toToken(row), secret };
  }

  listTokens(): ApiToken[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken);
  }

  revokeToken(id: string): void {
    const r = this.db.prepare('DELETE FROM api_tokens WHERE id = ? OR name = ?').run(id, id);
    if (r.changes === 0) throw notFound(`token ${JSON.stringify(id)}`);
  }

  async createUser(name: string, role: Role, password: string): Promise<User> {
    if (this.db.prepare('SELECT 1 FROM users WHERE name = ?').get(name)) {
      throw conflict(`user ${JSON.stringify(name)} already exists`, 'name');
    }
    const row: UserRow = { id: randomUUID(), name, role, password_hash: await hashPassword(password), created_at: Date.now() };
    this.db.prepare('INSERT INTO users (id, name, role, password_hash, created_at) VALUES (@id, @name, @role, @password_hash, @created_at)').run(row);
    return toUser(row);
  }

  listUsers(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as UserRow[]).map(toUser);
  }

  private userRow(idOrName: string): UserRow {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ? OR name = ?').get(idOrName, idOrName) as UserRow | undefined;
    if (!r) throw notFound(`user ${JSON.stringify(idOrName)}`);
    return r;
  }

  getUser(idOrName: string): User {
    return toUser(this.userRow(idOrName));
  }

  deleteUser(idOrName: string): void {
    const r = this.userRow(idOrName);
    this.db.prepare('DELETE FROM users WHERE id = ?').run(r.id);
  }

  async updateUser(idOrName: string, patch: { password?: string; role?: Role }): Promise<User> {
    const r = this.userRow(idOrName);
    const hash = patch.password !== undefined ? await hashPassword(patch.password) : r.password_hash;
    const role = patch.role ?? r.role;
    this.db.transaction(() => {
      this.db.prepare('UPDATE users SET password_hash = ?, role = ? WHERE id = ?').run(hash, role, r.id);
      // A changed password or role ends the user's existing sessions.
      this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(r.id);
    })();
    return toUser({ ...r, role });
  }

  async login(name: string, password: string): Promise<{ token: string; expiresAt: string; user: User }> {
    const r = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    // Same error for unknown user and wrong password: do not reveal which names exist.
    if (!r || !(await verifyPassword(password, r.password_hash))) {
      throw new ApiError(401, 'invalid_credentials', 'unknown user or wrong password');
    }
    const token = generateToken();
    const now = Date.now();
    const expires = now + SESSION_LIFETIME_MS;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
      this.db.prepare('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)').run(hashToken(token), r.id, now, expires);
    })();
    return { token, expiresAt: iso(expires), user: toUser(r) };
  }

  logout(token: string): void {
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(hashToken(token));
  }
}
