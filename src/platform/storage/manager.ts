/**
 * StorageManager: the pools of one node plus the policy every pool kind shares —
 * a linked clone's base is protected while clones exist, a volume a VM uses
 * cannot be deleted, disk snapshots only while the VM is stopped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import { DirectoryPool, validateFormat, validateSize } from './directory-pool.js';
import { conflict, notFound, badRequest, validateName } from './names.js';
import type { ImportOptions, ImportResult, PoolInfo, PoolKind, StoragePool, VolumeInfo } from './pool.js';
import type { CheckResult, InternalSnapshot, VolumeFormat } from './qemu-img.js';
import { StorageDb, type AttachmentRole } from './storage-db.js';

export const DEFAULT_POOL = 'local';

/** What the storage layer needs to know about VMs (supplied by the VM manager). */
export interface VmStateLookup {
  /** True while the VM's engine process holds its disks open (starting, running, paused, stopping). */
  isVmActive(vmId: string): boolean;
}

export interface VolumeView extends VolumeInfo {
  /** The base of a linked clone. */
  base?: { pool: string; name: string } | undefined;
  clones: Array<{ pool: string; name: string }>;
  attachedTo: Array<{ vmId: string; role: AttachmentRole }>;
}

export class StorageManager {
  readonly db: StorageDb;
  private readonly pools = new Map<string, StoragePool>();

  private constructor(
    db: Database,
    private vms: VmStateLookup,
  ) {
    this.db = new StorageDb(db);
  }

  /** The VM manager is created after the storage manager; it plugs its state lookup in here. */
  setVmLookup(vms: VmStateLookup): void {
    this.vms = vms;
  }

  /** Opens every recorded pool and creates the default `local` pool under `<dataDir>/pools/local`. */
  static async open(db: Database, dataDir: string, vms: VmStateLookup): Promise<StorageManager> {
    const manager = new StorageManager(db, vms);
    if (!manager.db.pool(DEFAULT_POOL)) {
      const dir = path.join(path.resolve(dataDir), 'pools', DEFAULT_POOL);
      await fs.mkdir(dir, { recursive: true });
      manager.db.insertPool({ name: DEFAULT_POOL, kind: 'dir', path: dir });
    }
    for (const row of manager.db.pools()) {
      manager.pools.set(row.name, new DirectoryPool(row.name, row.path));
    }
    return manager;
  }

  isVmActive(vmId: string): boolean {
    return this.vms.isVmActive(vmId);
  }

  pool(name: string): StoragePool {
    validateName(name, 'pool');
    const pool = this.pools.get(name);
    if (!pool) throw notFound(`pool ${name} not found`);
    return pool;
  }

  async listPools(): Promise<PoolInfo[]> {
    return Promise.all([...this.pools.values()].map((p) => p.info()));
  }

  async createPool(name: unknown, kind: unknown, dir: unknown): Promise<PoolInfo> {
    const poolName = validateName(name, 'name');
    if (kind !== undefined && kind !== 'dir') throw badRequest('kind must be "dir" (the only pool kind on this node)', 'kind');
    if (typeof dir !== 'string') throw badRequest('path must be a string', 'path');
    if (this.pools.has(poolName)) throw conflict(`pool ${poolName} already exists`, 'name');
    const pool = await DirectoryPool.open(poolName, dir);
    for (const other of this.pools.values()) {
      if (other instanceof DirectoryPool && other.dir === pool.dir) {
        throw conflict(`path ${pool.dir} is already pool ${other.name}`, 'path');
      }
    }
    this.db.insertPool({ name: poolName, kind: 'dir' as PoolKind, path: pool.dir });
    this.pools.set(poolName, pool);
    return pool.info();
  }

  /** Forgets a pool (its files stay on disk); refused while it holds volumes. */
  async deletePool(name: string): Promise<void> {
    const pool = this.pool(name);
    if (name === DEFAULT_POOL) throw conflict(`pool ${DEFAULT_POOL} is the default pool and cannot be removed`);
    const volumes = await pool.list();
    if (volumes.length > 0) throw conflict(`pool ${name} still holds ${volumes.length} volume(s)`);
    this.db.deletePool(name);
    this.pools.delete(name);
  }

  private view(v: VolumeInfo): VolumeView {
    return {
      ...v,
      base: this.db.baseOf(v.pool, v.name),
      clones: this.db.clonesOf(v.pool, v.name),
      attachedTo: this.db.attachmentsOfVolume(v.pool, v.name).map((a) => ({ vmId: a.vm_id, role: a.role })),
    };
  }

  async listVolumes(pool: string): Promise<VolumeView[]> {
    return (await this.pool(pool).list()).map((v) => this.view(v));
  }

  async volume(pool: string, name: string): Promise<VolumeView> {
    validateName(name, 'volume');
    const v = await this.pool(pool).volume(name);
    if (!v) throw notFound(`volume ${name} not found in pool ${pool}`);
    return this.view(v);
  }

  async createVolume(pool: string, name: unknown, format: unknown, sizeBytes: unknown): Promise<VolumeView> {
    const n = validateName(name, 'name');
    const f = format === undefined ? 'qcow2' : validateFormat(format);
    return this.view(await this.pool(pool).create(n, f, validateSize(sizeBytes)));
  }

  async resizeVolume(pool: string, name: string, sizeBytes: unknown): Promise<VolumeView> {
    return this.view(await this.pool(pool).resize(name, validateSize(sizeBytes)));
  }

  async deleteVolume(pool: string, name: string): Promise<void> {
    validateName(name, 'volume');
    const p = this.pool(pool);
    if (!(await p.volume(name))) throw notFound(`volume ${name} not found in pool ${pool}`);
    const clones = this.db.clonesOf(pool, name);
    if (clones.length > 0) {
      throw conflict(
        `volume ${name} is the base of linked clone(s) ${clones.map((c) => `${c.pool}/${c.name}`).join(', ')}; delete them first`,
      );
    }
    const users = this.db.attachmentsOfVolume(pool, name);
    if (users.length > 0) {
      const active = users.filter((a) => this.vms.isVmActive(a.vm_id));
      const which = (active.length > 0 ? active : users).map((a) => a.vm_id).join(', ');
      throw conflict(
        active.length > 0
          ? `volume ${name} is attached to running VM ${which}`
          : `volume ${name} is attached to VM ${which}; detach it or delete the VM first`,
      );
    }
    await p.delete(name);
    this.db.removeLink(pool, name);
  }

  async cloneVolume(pool: string, source: string, target: unknown, opts: { linked?: boolean; format?: unknown; targetPool?: string } = {}): Promise<VolumeView> {
    const t = validateName(target, 'target');
    if (opts.targetPool !== undefined && opts.targetPool !== pool) {
      throw badRequest('clones are made in the source volume\'s pool', 'targetPool');
    }
    const p = this.pool(pool);
    if (opts.linked) {
      const v = await p.linkedClone(source, t);
      this.db.addLink(pool, t, pool, source);
      return this.view(v);
    }
    const fmt = opts.format === undefined ? undefined : validateFormat(opts.format);
    return this.view(await p.clone(source, t, fmt));
  }

  /** A linked clone recorded as belonging to `vmId` (VM create from an image). */
  async linkedCloneFor(vmId: string, pool: string, base: string, target: string, role: AttachmentRole): Promise<VolumeView> {
    const v = await this.cloneVolume(pool, base, target, { linked: true });
    this.db.attach(vmId, pool, target, role);
    return this.view({ ...v });
  }

  async importVolume(pool: string, name: unknown, source: Readable, options: ImportOptions): Promise<ImportResult> {
    return this.pool(pool).importStream(validateName(name, 'name'), source, options);
  }

  async importFile(pool: string, name: string, file: string, fileFormat: VolumeFormat, format: VolumeFormat): Promise<VolumeView> {
    return this.view(await this.pool(pool).importFile(validateName(name, 'name'), file, fileFormat, format));
  }

  async exportVolume(pool: string, name: string): Promise<{ stream: Readable; sizeBytes: number; format: VolumeFormat }> {
    validateName(name, 'volume');
    return this.pool(pool).exportStream(name);
  }

  async checkVolume(pool: string, name: string): Promise<CheckResult> {
    validateName(name, 'volume');
    return this.pool(pool).check(name);
  }

  // ---- attachments -------------------------------------------------------

  attach(vmId: string, pool: string, name: string, role: AttachmentRole = 'disk'): void {
    this.db.attach(vmId, pool, name, role);
  }
  detach(vmId: string, pool: string, name: string): void {
    this.db.detach(vmId, pool, name);
  }
  attachments(vmId: string): Array<{ pool: string; name: string; role: AttachmentRole }> {
    return this.db.attachmentsOfVm(vmId).map((a) => ({ pool: a.pool, name: a.name, role: a.role }));
  }

  /**
   * VM delete: detaches everything; volumes the platform made for the VM (image clones,
   * cloud-init seeds) are deleted with it, user volumes stay.
   */
  async releaseVm(vmId: string): Promise<void> {
    for (const a of this.db.attachmentsOfVm(vmId)) {
      this.db.detach(vmId, a.pool, a.name);
      if (a.role === 'disk') continue;
      if (this.db.attachmentsOfVolume(a.pool, a.name).length > 0) continue;
      const pool = this.pools.get(a.pool);
      if (pool && (await pool.volume(a.name))) {
        await this.deleteVolume(a.pool, a.name);
      }
    }
  }

  // ---- disk snapshots of a VM's volumes ---------------------------------

  private vmQcow2Volumes(vmId: string): Array<{ pool: string; name: string }> {
    return this.db.attachmentsOfVm(vmId).filter((a) => a.role !== 'cloud-init');
  }

  private requireStopped(vmId: string): void {
    if (this.vms.isVmActive(vmId)) throw conflict(`VM ${vmId} must be stopped for disk snapshots`);
  }

  async vmSnapshots(vmId: string): Promise<Array<{ name: string; dateSec: number; volumes: string[] }>> {
    const byName = new Map<string, { name: string; dateSec: number; volumes: string[] }>();
    for (const v of this.vmQcow2Volumes(vmId)) {
      let snaps: InternalSnapshot[] = [];
      try {
        snaps = await this.pool(v.pool).snapshots(v.name);
      } catch {
        continue;
      }
      for (const s of snaps) {
        const entry = byName.get(s.name) ?? { name: s.name, dateSec: s.dateSec, volumes: [] };
        entry.volumes.push(`${v.pool}/${v.name}`);
        byName.set(s.name, entry);
      }
    }
    return [...byName.values()].sort((a, b) => a.dateSec - b.dateSec);
  }

  async vmSnapshotCreate(vmId: string, snapshot: unknown): Promise<void> {
    const name = validateName(snapshot, 'name');
    this.requireStopped(vmId);
    const volumes = this.vmQcow2Volumes(vmId);
    if (volumes.length === 0) throw badRequest(`VM ${vmId} has no platform volumes to snapshot`);
    for (const v of volumes) {
      const info = await this.pool(v.pool).volume(v.name);
      if (info?.format !== 'qcow2') throw badRequest(`volume ${v.pool}/${v.name} is raw: disk snapshots need qcow2`);
    }
    const done: Array<{ pool: string; name: string }> = [];
    try {
      for (const v of volumes) {
        await this.pool(v.pool).snapshotCreate(v.name, name);
        done.push(v);
      }
    } catch (err) {
      // All or nothing: a snapshot that covers only some disks would restore an inconsistent VM.
      for (const v of done) await this.pool(v.pool).snapshotDelete(v.name, name).catch(() => undefined);
      throw err;
    }
  }

  async vmSnapshotRestore(vmId: string, snapshot: string): Promise<void> {
    validateName(snapshot, 'snapshot');
    this.requireStopped(vmId);
    const volumes = await this.volumesWithSnapshot(vmId, snapshot);
    for (const v of volumes) await this.pool(v.pool).snapshotRestore(v.name, snapshot);
  }

  async vmSnapshotDelete(vmId: string, snapshot: string): Promise<void> {
    validateName(snapshot, 'snapshot');
    this.requireStopped(vmId);
    const volumes = await this.volumesWithSnapshot(vmId, snapshot);
    for (const v of volumes) await this.pool(v.pool).snapshotDelete(v.name, snapshot);
  }

  private async volumesWithSnapshot(vmId: string, snapshot: string): Promise<Array<{ pool: string; name: string }>> {
    const out: Array<{ pool: string; name: string }> = [];
    for (const v of this.vmQcow2Volumes(vmId)) {
      const snaps = await this.pool(v.pool).snapshots(v.name);
      if (snaps.some((s) => s.name === snapshot)) out.push(v);
    }
    if (out.length === 0) throw notFound(`VM ${vmId} has no disk snapshot ${snapshot}`);
    return out;
  }
}
