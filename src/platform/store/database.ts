/**
 * The node daemon's SQLite store (better-sqlite3, WAL).
 *
 * Schema changes are numbered migrations applied in order inside one
 * transaction each; `schema_migrations` records which ran, so an older data
 * directory is upgraded in place and a newer one is refused (downgrades are
 * not supported).
 */
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export function openDatabase(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  for (const v of applied) {
    if (v > newest) {
      throw new Error(`database schema version ${v} is newer than this typevisor (knows up to ${newest}); refusing to start`);
    }
  }
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
    })();
  }
}

/** Deterministic dump of every table (rows sorted), used by tests to prove a request changed nothing. */
export function dumpDatabase(db: Db, excludeTables: string[] = []): Record<string, unknown[]> {
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
  ).map((t) => t.name);
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    if (excludeTables.includes(t) || t.startsWith('sqlite_')) continue;
    const rows = db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[];
    out[t] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}
