/**
 * ImageManager: builds images from recipes as tasks and keeps them — the root
 * disk as a volume `img-<name>` in the default pool (VMs get linked clones of
 * it, so it is protected while any exist), the kernel and initramfs under
 * `<data>/images/<name>/`. A build that fails leaves nothing behind.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { conflict, notFound, badRequest, validateName } from '../storage/names.js';
import { DEFAULT_POOL, type StorageManager } from '../storage/manager.js';
import type { ImageRecipe } from './recipe.js';
import { tinyRecipe } from './recipes/tiny.js';
import { debianRecipe } from './recipes/debian.js';
import { debianMinimalRecipe } from './recipes/debian-minimal.js';

export const RECIPES: Record<string, ImageRecipe> = {
  [tinyRecipe.name]: tinyRecipe,
  [debianRecipe.name]: debianRecipe,
  [debianMinimalRecipe.name]: debianMinimalRecipe,
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  name TEXT PRIMARY KEY,
  recipe TEXT NOT NULL,
  status TEXT NOT NULL,
  pool TEXT NOT NULL,
  volume TEXT NOT NULL,
  kernel TEXT,
  initrd TEXT,
  cmdline TEXT,
  inputs TEXT NOT NULL DEFAULT '{}',
  task_id TEXT,
  build_seconds REAL,
  created_at TEXT NOT NULL
);
`;

interface ImageRow {
  name: string;
  recipe: string;
  status: 'building' | 'ready';
  pool: string;
  volume: string;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
  inputs: string;
  task_id: string | null;
  build_seconds: number | null;
  created_at: string;
}

export interface ImageView {
  name: string;
  recipe: string;
  status: 'building' | 'ready';
  disk: { pool: string; volume: string; virtualSizeBytes?: number | undefined; actualSizeBytes?: number | undefined };
  boot: { kernel: string; initrd?: string | undefined; cmdline?: string | undefined } | null;
  inputs: Record<string, unknown>;
  taskId: string | null;
  buildSeconds: number | null;
  createdAt: string;
  /** Linked clones (VM disks) that use this image. */
  clones: number;
}

/** The slice of the platform's task manager the image builder needs. */
export interface TaskRunner<T> {
  run(kind: string, target: string | null, work: (ctx: { log(line: string): void; progress(f: number): void }) => Promise<void>): T;
}

export interface ImageManagerOptions {
  dataDir: string;
  /** Shared build cache (kernels, debootstrap results, .debs); default <data>/.cache/images. */
  cacheDir?: string | undefined;
  log?: (msg: string) => void;
}

export class ImageManager {
  readonly cacheDir: string;
  private readonly imagesDir: string;

  constructor(
    private readonly db: Database,
    private readonly storage: StorageManager,
    private readonly opts: ImageManagerOptions,
  ) {
    db.exec(SCHEMA);
    this.cacheDir = opts.cacheDir ?? process.env['TYPEVISOR_IMAGE_CACHE'] ?? path.join(opts.dataDir, '.cache', 'images');
    this.imagesDir = path.join(path.resolve(opts.dataDir), 'images');
  }

  /** Daemon start: builds interrupted by a previous daemon can never finish; remove their leftovers. */
  async recover(): Promise<void> {
    const stale = this.db.prepare("SELECT * FROM images WHERE status = 'building'").all() as ImageRow[];
    for (const row of stale) await this.discard(row);
  }

  private row(name: string): ImageRow {
    validateName(name, 'image');
    const row = this.db.prepare('SELECT * FROM images WHERE name = ?').get(name) as ImageRow | undefined;
    if (!row) throw notFound(`image ${name} not found`);
    return row;
  }

  private async view(row: ImageRow): Promise<ImageView> {
    const vol = row.status === 'ready' ? await this.storage.pool(row.pool).volume(row.volume).catch(() => null) : null;
    return {
      name: row.name,
      recipe: row.recipe,
      status: row.status,
      disk: { pool: row.pool, volume: row.volume, virtualSizeBytes: vol?.virtualSizeBytes, actualSizeBytes: vol?.actualSizeBytes },
      boot: row.kernel ? { kernel: row.kernel, initrd: row.initrd ?? undefined, cmdline: row.cmdline ?? undefined } : null,
      inputs: JSON.parse(row.inputs) as Record<string, unknown>,
      taskId: row.task_id,
      buildSeconds: row.build_seconds,
      createdAt: row.created_at,
      clones: this.storage.db.clonesOf(row.pool, row.volume).length,
    };
  }

  async list(): Promise<ImageView[]> {
    const rows = this.db.prepare('SELECT * FROM images ORDER BY name').all() as ImageRow[];
    return Promise.all(rows.map((r) => this.view(r)));
  }

  async get(name: string): Promise<ImageView> {
    return this.view(this.row(name));
  }

  /** A ready image, for VM create. */
  ready(name: string): ImageRow {
    const row = this.row(name);
    if (row.status !== 'ready') throw conflict(`image ${name} is still building`, 'image');
    return row;
  }

  /** Starts a build task; the image row exists (status building) from now on, so a second build of the name is refused. */
  build<T>(nameIn: unknown, recipeName: unknown, tasks: TaskRunner<T>): T {
    const name = validateName(nameIn, 'name');
    if (name.length > 120) throw badRequest('name must be at most 120 characters for images', 'name');
    if (name === 'recipes') throw badRequest('name "recipes" is reserved (GET /api/v1/images/recipes)', 'name');
    if (typeof recipeName !== 'string' || !RECIPES[recipeName]) {
      throw badRequest(`recipe must be one of ${Object.keys(RECIPES).join(', ')}`, 'recipe');
    }
    const recipe = RECIPES[recipeName] as ImageRecipe;
    if (this.db.prepare('SELECT 1 FROM images WHERE name = ?').get(name)) throw conflict(`image ${name} already exists`, 'name');
    const volume = `img-${name}`;
    this.db
      .prepare("INSERT INTO images (name, recipe, status, pool, volume, created_at) VALUES (?, ?, 'building', ?, ?, ?)")
      .run(name, recipe.name, DEFAULT_POOL, volume, new Date().toISOString());
    const row = this.row(name);
    const task = tasks.run('image.build', name, async (ctx) => {
      const t0 = Date.now();
      // Image names never start with a dot, so the scratch area cannot collide with an image.
      await fs.mkdir(path.join(this.imagesDir, '.work'), { recursive: true });
      const workDir = await fs.mkdtemp(path.join(this.imagesDir, '.work', `${name}-`));
      try {
        ctx.log(`building image ${name} from recipe ${recipe.name}: ${recipe.description}`);
        const out = await recipe.build({ workDir, cacheDir: this.cacheDir, log: ctx.log, progress: ctx.progress });
        ctx.log(`storing the disk as volume ${DEFAULT_POOL}/${volume} (qcow2)`);
        await this.storage.importFile(DEFAULT_POOL, volume, out.rootfsRaw, 'raw', 'qcow2');
        const check = await this.storage.checkVolume(DEFAULT_POOL, volume);
        if (!check.ok) throw new Error(`qemu-img check of ${volume} failed`);
        ctx.progress(0.95);
        const dir = this.imagesDirFor(name);
        await fs.mkdir(dir, { recursive: true });
        const kernel = path.join(dir, 'vmlinuz');
        const initrd = path.join(dir, 'initrd.img');
        await fs.copyFile(out.kernel, kernel);
        await fs.copyFile(out.initrd, initrd);
        const seconds = (Date.now() - t0) / 1000;
        this.db
          .prepare("UPDATE images SET status = 'ready', kernel = ?, initrd = ?, cmdline = ?, inputs = ?, build_seconds = ? WHERE name = ?")
          .run(kernel, initrd, out.cmdline, JSON.stringify(out.inputs), seconds, name);
        ctx.log(`image ${name} ready in ${seconds.toFixed(1)} s`);
      } catch (err) {
        await this.discard(row);
        throw err;
      } finally {
        await fs.rm(workDir, { recursive: true, force: true });
      }
    });
    const taskId = (task as { id?: string }).id;
    if (taskId) this.db.prepare('UPDATE images SET task_id = ? WHERE name = ?').run(taskId, name);
    return task;
  }

  private imagesDirFor(name: string): string {
    return path.join(this.imagesDir, name);
  }

  /** Removes a failed or interrupted build's row, volume and files. */
  private async discard(row: ImageRow): Promise<void> {
    try {
      if (await this.storage.pool(row.pool).volume(row.volume)) await this.storage.deleteVolume(row.pool, row.volume);
    } catch (err) {
      this.opts.log?.(`image ${row.name}: could not remove volume ${row.volume}: ${(err as Error).message}`);
    }
    await fs.rm(this.imagesDirFor(row.name), { recursive: true, force: true });
    this.db.prepare('DELETE FROM images WHERE name = ?').run(row.name);
  }

  /** Refused while VMs use linked clones of the image, or while it builds. */
  async delete(name: string): Promise<void> {
    const row = this.row(name);
    if (row.status === 'building') throw conflict(`image ${name} is still building`);
    const clones = this.storage.db.clonesOf(row.pool, row.volume);
    if (clones.length > 0) {
      throw conflict(`image ${name} is the base of ${clones.length} VM disk(s) (${clones.map((c) => c.name).join(', ')}); delete those VMs first`);
    }
    if (await this.storage.pool(row.pool).volume(row.volume)) await this.storage.deleteVolume(row.pool, row.volume);
    await fs.rm(this.imagesDirFor(name), { recursive: true, force: true });
    this.db.prepare('DELETE FROM images WHERE name = ?').run(name);
  }
}
