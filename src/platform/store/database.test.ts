import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, dumpDatabase } from './database.js';
import { MIGRATIONS } from './migrations.js';

test('migrations run once, are recorded, and a newer schema is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-db-'));
  try {
    const path = join(dir, 'x.db');
    const db = openDatabase(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const versions = db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[];
    assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    db.prepare("INSERT INTO settings (key, value) VALUES ('a', 'b')").run();
    const dump = dumpDatabase(db);
    db.close();
    const again = openDatabase(path);
    assert.deepEqual(dumpDatabase(again), dump, 'reopening changes nothing');
    again.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)").run();
    again.close();
    assert.throws(() => openDatabase(path), /newer than this typevisor/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
