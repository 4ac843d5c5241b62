/**
 * A pool that is a plain directory: volume `NAME` of format F is the file
 * `<dir>/NAME.F`, so the format is never guessed from file contents (probing a
 * raw image a guest wrote could otherwise make it look like qcow2 with a
 * backing file of the guest's choosing). Temporary files start with a dot and
 * are never valid volume names, so a half-written upload is never listed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImportOptions, ImportResult, PoolInfo, StoragePool, VolumeInfo } from './pool.js';
import {
  checkImage,
  convertImage,
  createImage,
  imageInfo,
  resizeImage,
  snapshotApply,
  snapshotCreate,
  snapshotDelete,
  snapshotList,
  VOLUME_FORMATS,
  type CheckResult,
  type InternalSnapshot,
  type VolumeFormat,
} from './qemu-img.js';
import { badRequest, conflict, notFound, resolveInside, StorageError, validateName } from './names.js';

/** qemu-img's own ceiling is far higher; this stops typos like 10e18 from reaching it. */
export const MAX_VOLUME_BYTES = 64 * 2 ** 40;

export function validateSize(sizeBytes: unknown, field = 'sizeBytes'): number {
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw badRequest(`${field} must be a positive integer number of bytes`, field);
  }
  if (sizeBytes > MAX_VOLUME_BYTES) throw badRequest(`${field} exceeds the ${MAX_VOLUME_BYTES}-byte limit`, field);
  if (sizeBytes % 512 !== 0) throw badRequest(`${field} must be a multiple of 512 bytes`, field);
  return sizeBytes;
}

export function validateFormat(format: unknown, field = 'format'): VolumeFormat {
  if (typeof format !== 'string' || !(VOLUME_FORMATS as readonly string[]).includes(format)) {
    throw badRequest(`${field} must be one of ${VOLUME_FORMATS.join(', ')}`, field);
  }
  return format as VolumeFormat;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

export class DirectoryPool implements StoragePool {
  readonly kind = 'dir' as const;
  readonly dir: string;

  constructor(
    readonly name: string,
    dir: string,
  ) {
    validateName(name, 'pool');
    this.dir = path.resolve(dir);
  }

  /** Opens an existing directory as a pool: a missing or non-directory path is a 400, never auto-created. */
  static async open(name: string, dir: string): Promise<DirectoryPool> {
    if (!path.isAbsolute(dir)) throw badRequest(`pool path ${JSON.stringify(dir)} must be absolute`, 'path');
    let st;
    try {
      st = await fs.stat(dir);
    } catch {
      throw badRequest(`pool path ${dir} does not exist`, 'path');
    }
    if (!st.isDirectory()) throw badRequest(`pool path ${dir} is not a directory`, 'path');
    return new DirectoryPool(name, dir);
  }

  private fileFor(name: string, format: VolumeFormat): string {
    validateName(name, 'volume');
    return resolveInside(this.dir, `${name}.${format}`);
  }

  /** The existing file of volume `name`, whatever its format. */
  private async locate(name: string): Promise<{ file: string; format: VolumeFormat } | null> {
    for (const format of VOLUME_FORMATS) {
      const file = this.fileFor(name, format);
      if (await exists(file)) return { file, format };
    }
    return null;
  }

  private async require(name: string): Promise<{ file: string; format: VolumeFormat }> {
    const found = await this.locate(name);
    if (!found) throw notFound(`volume ${name} not found in pool ${this.name}`);
    return found;
  }

  private async refuseExisting(name: string): Promise<void> {
    if (await this.locate(name)) throw conflict(`volume ${name} already exists in pool ${this.name}`, 'name');
  }

  private async describe(name: string, file: string, format: VolumeFormat): Promise<VolumeInfo> {
    const info = await imageInfo(file);
    return {
      pool: this.name,
      name,
      format,
      virtualSizeBytes: info.virtualSize,
      actualSizeBytes: info.actualSize,
      path: file,
      backingPath: info.backingFile,
    };
  }

  async info(): Promise<PoolInfo> {
    const st = await fs.statfs(this.dir);
    return {
      name: this.name,
      kind: this.kind,
      path: this.dir,
      capacityBytes: st.blocks * st.bsize,
      freeBytes: st.bavail * st.bsize,
    };
  }

  async list(): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const entry of (await fs.readdir(this.dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isFile()) continue;
      const m = /^(.+)\.(raw|qcow2)$/.exec(entry.name);
      if (!m || m[1] === undefined || m[1].startsWith('.')) continue;
      try {
        validateName(m[1]);
      } catch {
        continue;
      }
      out.push(await this.describe(m[1], path.join(this.dir, entry.name), m[2] as VolumeFormat));
    }
    return out;
  }

  async volume(name: string): Promise<VolumeInfo | null> {
    const found = await this.locate(name);
    return found ? this.describe(name, found.file, found.format) : null;
  }

  async create(name: string, format: VolumeFormat, sizeBytes: number): Promise<VolumeInfo> {
    validateFormat(format);
    validateSize(sizeBytes);
    await this.refuseExisting(name);
    const file = this.fileFor(name, format);
    const tmp = this.tempFile(name);
    try {
      await createImage(tmp, format, sizeBytes);
      await this.publish(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return this.describe(name, file, format);
  }

  async resize(name: string, sizeBytes: number): Promise<VolumeInfo> {
    validateSize(sizeBytes);
    const { file, format } = await this.require(name);
    const current = await imageInfo(file);
    if (sizeBytes < current.virtualSize) {
      throw new StorageError(
        400,
        'shrink_refused',
        `refusing to shrink volume ${name} from ${current.virtualSize} to ${sizeBytes} bytes: shrinking destroys the data past the new end (guest filesystems are not shrunk first)`,
        'sizeBytes',
      );
    }
    if (sizeBytes > current.virtualSize) await resizeImage(file, format, sizeBytes);
    return this.describe(name, file, format);
  }

  async delete(name: string): Promise<void> {
    const { file } = await this.require(name);
    await fs.rm(file);
  }

  async clone(source: string, target: string, format?: VolumeFormat): Promise<VolumeInfo> {
    const src = await this.require(source);
    const outFormat = format ? validateFormat(format) : src.format;
    await this.refuseExisting(target);
    const file = this.fileFor(target, outFormat);
    const tmp = this.tempFile(target);
    try {
      // convert flattens any backing chain, so the clone is independent of the source's base.
      await convertImage(src.file, src.format, tmp, outFormat);
      await this.publish(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return this.describe(target, file, outFormat);
  }

  async linkedClone(base: string, target: string, sizeBytes?: number): Promise<VolumeInfo> {
    const src = await this.require(base);
    await this.refuseExisting(target);
    let size = 0;
    if (sizeBytes !== undefined) {
      validateSize(sizeBytes);
      const baseInfo = await imageInfo(src.file);
      if (sizeBytes < baseInfo.virtualSize) {
        throw new StorageError(400, 'shrink_refused', `a linked clone cannot be smaller than its base (${baseInfo.virtualSize} bytes)`, 'sizeBytes');
      }
      size = sizeBytes;
    }
    const file = this.fileFor(target, 'qcow2');
    const tmp = this.tempFile(target);
    try {
      await createImage(tmp, 'qcow2', size, { file: src.file, format: src.format });
      await this.publish(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return this.describe(target, file, 'qcow2');
  }

  async importStream(name: string, source: Readable, options: ImportOptions): Promise<ImportResult> {
    // The client may hang up while we are still checking names: keep that error from being
    // unhandled; pipeline() below sees the destroyed stream and fails the import.
    source.on('error', () => undefined);
    const format = validateFormat(options.format);
    validateName(name, 'volume');
    if (options.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(options.sha256)) {
      throw badRequest('sha256 must be 64 lower-case hex digits', 'sha256');
    }
    await this.refuseExisting(name);
    const file = this.fileFor(name, format);
    const tmp = this.tempFile(name);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        options.onProgress?.(bytes);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
        throw new StorageError(400, 'upload_incomplete', `upload of ${name} ended after ${bytes} of ${options.expectedBytes} bytes`);
      }
      const digest = hash.digest('hex');
      if (options.sha256 !== undefined && digest !== options.sha256) {
        throw new StorageError(400, 'checksum_mismatch', `upload of ${name} has SHA-256 ${digest}, expected ${options.sha256}`, 'sha256');
      }
      await this.verifyUploadedImage(tmp, format);
      await this.publish(tmp, file);
      return { volume: await this.describe(name, file, format), bytes, sha256: digest };
    } catch (err) {
      if ((source as { destroyed?: boolean }).destroyed && !(err instanceof StorageError)) {
        throw new StorageError(400, 'upload_incomplete', `upload of ${name} was cut off after ${bytes} bytes: ${(err as Error).message}`);
      }
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async importFile(name: string, source: string, sourceFormat: VolumeFormat, format: VolumeFormat): Promise<VolumeInfo> {
    validateFormat(format);
    await this.refuseExisting(name);
    const file = this.fileFor(name, format);
    const tmp = this.tempFile(name);
    try {
      await convertImage(source, sourceFormat, tmp, format);
      await this.publish(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return this.describe(name, file, format);
  }

  /**
   * An uploaded qcow2 must really be qcow2 and must not name a backing file: a backing
   * file is a host path, and an uploader could otherwise point a VM at any host file.
   */
  private async verifyUploadedImage(tmp: string, format: VolumeFormat): Promise<void> {
    if (format === 'raw') return;
    let info;
    try {
      info = await imageInfo(tmp);
    } catch (err) {
      throw badRequest(`uploaded data is not a readable qcow2 image: ${(err as Error).message}`, 'format');
    }
    if (info.format !== 'qcow2') throw badRequest(`uploaded data is ${info.format}, not qcow2`, 'format');
    if (info.backingFile) throw badRequest('uploaded qcow2 images may not have a backing file', 'format');
    const check = await checkImage(tmp, 'qcow2');
    if (!check.ok) throw badRequest(`uploaded qcow2 image fails qemu-img check (${check.errors} errors, ${check.corruptions} corruptions)`, 'format');
  }

  async exportStream(name: string): Promise<{ stream: Readable; sizeBytes: number; format: VolumeFormat }> {
    const { file, format } = await this.require(name);
    const info = await imageInfo(file);
    if (!info.backingFile) {
      const st = await fs.stat(file);
      return { stream: createReadStream(file), sizeBytes: st.size, format };
    }
    // A linked clone alone is useless elsewhere: flatten into a temporary copy, removed once streamed.
    const tmp = this.tempFile(name);
    await convertImage(file, format, tmp, 'qcow2');
    const st = await fs.stat(tmp);
    const stream = createReadStream(tmp);
    stream.once('close', () => void fs.rm(tmp, { force: true }));
    return { stream, sizeBytes: st.size, format: 'qcow2' };
  }

  async check(name: string): Promise<CheckResult> {
    const { file, format } = await this.require(name);
    return checkImage(file, format);
  }

  private async requireQcow2(name: string): Promise<string> {
    const { file, format } = await this.require(name);
    if (format !== 'qcow2') throw badRequest(`volume ${name} is raw: disk snapshots need qcow2 volumes`);
    return file;
  }

  async snapshots(name: string): Promise<InternalSnapshot[]> {
    const { file, format } = await this.require(name);
    return format === 'qcow2' ? snapshotList(file) : [];
  }

  async snapshotCreate(name: string, snapshot: string): Promise<void> {
    validateName(snapshot, 'snapshot');
    const file = await this.requireQcow2(name);
    if ((await snapshotList(file)).some((s) => s.name === snapshot)) {
      throw conflict(`volume ${name} already has a snapshot ${snapshot}`, 'snapshot');
    }
    await snapshotCreate(file, snapshot);
  }

  private async requireSnapshot(name: string, snapshot: string): Promise<string> {
    validateName(snapshot, 'snapshot');
    const file = await this.requireQcow2(name);
    if (!(await snapshotList(file)).some((s) => s.name === snapshot)) {
      throw notFound(`volume ${name} has no snapshot ${snapshot}`);
    }
    return file;
  }

  async snapshotRestore(name: string, snapshot: string): Promise<void> {
    await snapshotApply(await this.requireSnapshot(name, snapshot), snapshot);
  }

  async snapshotDelete(name: string, snapshot: string): Promise<void> {
    await snapshotDelete(await this.requireSnapshot(name, snapshot), snapshot);
  }

  private tempFile(name: string): string {
    return path.join(this.dir, `.tmp-${randomUUID()}-${name}`);
  }

  /** link() refuses to overwrite, so two racing creates cannot clobber each other. */
  private async publish(tmp: string, file: string): Promise<void> {
    try {
      await fs.link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`volume ${path.basename(file)} already exists in pool ${this.name}`);
      throw err;
    }
  }
}
