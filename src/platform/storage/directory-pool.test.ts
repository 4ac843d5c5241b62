import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DirectoryPool } from './directory-pool.js';
import { StorageError } from './names.js';
import { checkImage, createImage, imageInfo } from './qemu-img.js';

const MiB = 1024 * 1024;

async function withPool(fn: (pool: DirectoryPool, dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-pool-'));
  try {
    await fn(await DirectoryPool.open('test', dir), dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function visibleFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

test('open refuses a missing pool path with a 400', async () => {
  await assert.rejects(DirectoryPool.open('x', '/nonexistent/tv-pool-path'), (e: unknown) => e instanceof StorageError && e.status === 400 && /does not exist/.test(e.message));
  await assert.rejects(DirectoryPool.open('x', 'relative/dir'), /must be absolute/);
});

test('create, info, list and qemu-img check on qcow2 and raw', async () => {
  await withPool(async (pool, dir) => {
    const q = await pool.create('disk0', 'qcow2', 64 * MiB);
    assert.equal(q.format, 'qcow2');
    assert.equal(q.virtualSizeBytes, 64 * MiB);
    assert.equal(q.path, path.join(dir, 'disk0.qcow2'));
    const r = await pool.create('disk1', 'raw', 8 * MiB);
    assert.equal((await fs.stat(r.path)).size, 8 * MiB);
    assert.deepEqual((await pool.list()).map((v) => v.name), ['disk0', 'disk1']);
    assert.deepEqual(await pool.check('disk0'), { ok: true, errors: 0, leaks: 0, corruptions: 0 });
    await assert.rejects(pool.create('disk0', 'raw', MiB), (e: unknown) => e instanceof StorageError && e.status === 409);
    await assert.rejects(pool.create('../evil', 'raw', MiB), (e: unknown) => e instanceof StorageError && e.status === 400);
    await assert.rejects(pool.create('ok', 'raw', 1000), /multiple of 512/);
    assert.deepEqual(await visibleFiles(dir), ['disk0.qcow2', 'disk1.raw']);
  });
});

test('resize grows and refuses to shrink with a reason', async () => {
  await withPool(async (pool) => {
    await pool.create('d', 'qcow2', 16 * MiB);
    assert.equal((await pool.resize('d', 32 * MiB)).virtualSizeBytes, 32 * MiB);
    await assert.rejects(pool.resize('d', 8 * MiB), (e: unknown) => e instanceof StorageError && e.code === 'shrink_refused' && /refusing to shrink/.test(e.message));
    assert.equal((await pool.volume('d'))?.virtualSizeBytes, 32 * MiB);
    assert.equal((await pool.check('d')).ok, true);
  });
});

test('linked clone has the base as backing file, full clone is independent', async () => {
  await withPool(async (pool) => {
    const base = await pool.create('base', 'raw', 4 * MiB);
    await fs.writeFile(base.path, Buffer.alloc(4 * MiB, 0xab));
    const before = createHash('sha256').update(await fs.readFile(base.path)).digest('hex');
    const linked = await pool.linkedClone('base', 'child');
    assert.equal(linked.format, 'qcow2');
    assert.equal(linked.backingPath, base.path);
    assert.equal(linked.virtualSizeBytes, 4 * MiB);
    const full = await pool.clone('child', 'copy', 'raw');
    assert.equal(full.backingPath, undefined);
    assert.deepEqual(await fs.readFile(full.path), await fs.readFile(base.path));
    assert.equal((await pool.check('child')).ok, true);
    const after = createHash('sha256').update(await fs.readFile(base.path)).digest('hex');
    assert.equal(after, before);
  });
});

test('import verifies SHA-256 and never leaves a file under the final name on failure', async () => {
  await withPool(async (pool, dir) => {
    const data = Buffer.alloc(3 * MiB + 512, 7);
    const digest = createHash('sha256').update(data).digest('hex');
    await assert.rejects(
      pool.importStream('up', Readable.from([data]), { format: 'raw', sha256: '0'.repeat(64) }),
      (e: unknown) => e instanceof StorageError && e.code === 'checksum_mismatch',
    );
    assert.deepEqual(await visibleFiles(dir), []);
    await assert.rejects(
      pool.importStream('up', Readable.from([data.subarray(0, MiB)]), { format: 'raw', expectedBytes: data.length }),
      (e: unknown) => e instanceof StorageError && e.code === 'upload_incomplete',
    );
    assert.deepEqual(await visibleFiles(dir), []);
    // A stream that errors halfway (client hung up).
    const broken = new Readable({ read() {} });
    broken.push(data.subarray(0, MiB));
    setImmediate(() => broken.destroy(new Error('aborted')));
    await assert.rejects(pool.importStream('up', broken, { format: 'raw' }), /cut off|aborted/);
    assert.deepEqual(await visibleFiles(dir), []);
    let progress = 0;
    const ok = await pool.importStream('up', Readable.from([data.subarray(0, MiB), data.subarray(MiB)]), {
      format: 'raw',
      sha256: digest,
      expectedBytes: data.length,
      onProgress: (n) => (progress = n),
    });
    assert.equal(ok.sha256, digest);
    assert.equal(progress, data.length);
    assert.deepEqual(await fs.readFile(ok.volume.path), data);
    assert.deepEqual(await visibleFiles(dir), ['up.raw']);
  });
});

test('import refuses qcow2 with a backing file and non-qcow2 data labelled qcow2', async () => {
  await withPool(async (pool, dir) => {
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-scratch-'));
    try {
      await createImage(path.join(scratch, 'b.raw'), 'raw', MiB);
      await createImage(path.join(scratch, 'o.qcow2'), 'qcow2', 0, { file: path.join(scratch, 'b.raw'), format: 'raw' });
      const overlay = await fs.readFile(path.join(scratch, 'o.qcow2'));
      await assert.rejects(pool.importStream('x', Readable.from([overlay]), { format: 'qcow2' }), /backing file/);
      await assert.rejects(pool.importStream('x', Readable.from([Buffer.alloc(4096)]), { format: 'qcow2' }), /not qcow2|not a readable/);
      assert.deepEqual(await visibleFiles(dir), []);
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  });
});

test('export flattens a linked clone into a standalone qcow2', async () => {
  await withPool(async (pool, dir) => {
    const base = await pool.create('base', 'raw', MiB);
    await fs.writeFile(base.path, Buffer.alloc(MiB, 1));
    await pool.linkedClone('base', 'child');
    const { stream } = await pool.exportStream('child');
    const out = path.join(dir, '.exported');
    await fs.writeFile(out, stream);
    const info = await imageInfo(out);
    assert.equal(info.format, 'qcow2');
    assert.equal(info.backingFile, undefined);
    assert.equal((await checkImage(out, 'qcow2')).ok, true);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.startsWith('.tmp')), []);
  });
});

test('internal snapshots: create, list, restore, delete', async () => {
  await withPool(async (pool) => {
    await pool.create('d', 'qcow2', MiB);
    await pool.snapshotCreate('d', 'snap1');
    await assert.rejects(pool.snapshotCreate('d', 'snap1'), /already has/);
    assert.deepEqual((await pool.snapshots('d')).map((s) => s.name), ['snap1']);
    await pool.snapshotRestore('d', 'snap1');
    await assert.rejects(pool.snapshotRestore('d', 'nope'), /no snapshot/);
    await pool.snapshotDelete('d', 'snap1');
    assert.deepEqual(await pool.snapshots('d'), []);
    await pool.create('r', 'raw', MiB);
    await assert.rejects(pool.snapshotCreate('r', 's'), /need qcow2/);
  });
});
