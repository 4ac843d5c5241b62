/**
 * The storage layer's own tables in the daemon's SQLite database. Created
 * idempotently at startup (the platform store owns the file; these tables are
 * prefixed so they never collide with its schema).
 */
import type { Database } from 'better-sqlite3';
import type { PoolKind } from './pool.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS storage_pools (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  created_at TEXT NOT NULL
);
-- linked clone -> its base; a base with rows here cannot be deleted.
CREATE TABLE IF NOT EXISTS storage_links (
  pool TEXT NOT NULL,
  name TEXT NOT NULL,
  base_pool TEXT NOT NULL,
  base_name TEXT NOT NULL,
  PRIMARY KEY (pool, name)
);
CREATE INDEX IF NOT EXISTS storage_links_base ON storage_links (base_pool, base_name);
-- which VM uses which volume (disks, image clones, cloud-init seeds).
CREATE TABLE IF NOT EXISTS storage_attachments (
  vm_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (vm_id, pool, name)
);
CREATE INDEX IF NOT EXISTS storage_attachments_volume ON storage_attachments (pool, name);
`;

export interface PoolRow {
  name: string;
  kind: PoolKind;
  path: string;
  created_at: string;
}

/** disk: a user volume (kept when the VM goes); the others were made for the VM and are deleted with it. */
export type AttachmentRole = 'disk' | 'vm-disk' | 'image-clone' | 'cloud-init';

export interface AttachmentRow {
  vm_id: string;
  pool: string;
  name: string;
  role: AttachmentRole;
}

export class StorageDb {
  constructor(readonly db: Database) {
    db.exec(SCHEMA);
  }

  pools(): PoolRow[] {
    return this.db.prepare('SELECT * FROM storage_pools ORDER BY name').all() as PoolRow[];
  }
  pool(name: string): PoolRow | undefined {
    return this.db.prepare('SELECT * FROM storage_pools WHERE name = ?').get(name) as PoolRow | undefined;
  }
  insertPool(row: Omit<PoolRow, 'created_at'>): void {
    this.db
      .prepare('INSERT INTO storage_pools (name, kind, path, created_at) VALUES (?, ?, ?, ?)')
      .run(row.name, row.kind, row.path, new Date().toISOString());
  }
  deletePool(name: string): void {
    this.db.prepare('DELETE FROM storage_pools WHERE name = ?').run(name);
  }

  addLink(pool: string, name: string, basePool: string, baseName: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO storage_links (pool, name, base_pool, base_name) VALUES (?, ?, ?, ?)')
      .run(pool, name, basePool, baseName);
  }
  removeLink(pool: string, name: string): void {
    this.db.prepare('DELETE FROM storage_links WHERE pool = ? AND name = ?').run(pool, name);
  }
  clonesOf(pool: string, name: string): Array<{ pool: string; name: string }> {
    return this.db
      .prepare('SELECT pool, name FROM storage_links WHERE base_pool = ? AND base_name = ? ORDER BY pool, name')
      .all(pool, name) as Array<{ pool: string; name: string }>;
  }
  baseOf(pool: string, name: string): { pool: string; name: string } | undefined {
    return this.db
      .prepare('SELECT base_pool AS pool, base_name AS name FROM storage_links WHERE pool = ? AND name = ?')
      .get(pool, name) as { pool: string; name: string } | undefined;
  }

  attach(vmId: string, pool: string, name: string, role: AttachmentRole): void {
    this.db
      .prepare('INSERT OR REPLACE INTO storage_attachments (vm_id, pool, name, role) VALUES (?, ?, ?, ?)')
      .run(vmId, pool, name, role);
  }
  detach(vmId: string, pool: string, name: string): void {
    this.db.prepare('DELETE FROM storage_attachments WHERE vm_id = ? AND pool = ? AND name = ?').run(vmId, pool, name);
  }
  attachmentsOfVolume(pool: string, name: string): AttachmentRow[] {
    return this.db
      .prepare('SELECT * FROM storage_attachments WHERE pool = ? AND name = ? ORDER BY vm_id')
      .all(pool, name) as AttachmentRow[];
  }
  attachmentsOfVm(vmId: string): AttachmentRow[] {
    return this.db.prepare('SELECT * FROM storage_attachments WHERE vm_id = ? ORDER BY role, pool, name').all(vmId) as AttachmentRow[];
  }
  volumesInPool(pool: string): number {
    const a = this.db.prepare('SELECT COUNT(*) AS n FROM storage_attachments WHERE pool = ?').get(pool) as { n: number };
    return a.n;
  }
}
