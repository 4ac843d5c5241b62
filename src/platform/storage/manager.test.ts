import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StorageManager } from './manager.js';
import { StorageError } from './names.js';

const MiB = 1024 * 1024;

async function withManager(fn: (m: StorageManager, dataDir: string, active: Set<string>) => Promise<void>): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-storage-'));
  const db = new Database(':memory:');
  const active = new Set<string>();
  try {
    const m = await StorageManager.open(db, dataDir, { isVmActive: (id) => active.has(id) });
    await fn(m, dataDir, active);
  } finally {
    db.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

const is = (status: number, re: RegExp) => (e: unknown) => e instanceof StorageError && e.status === status && re.test(e.message);

test('default pool local lives under <data>/pools/local; extra pools need an existing path', async () => {
  await withManager(async (m, dataDir) => {
    const pools = await m.listPools();
    assert.deepEqual(pools.map((p) => [p.name, p.path]), [['local', path.join(dataDir, 'pools', 'local')]]);
    await assert.rejects(m.createPool('extra', 'dir', path.join(dataDir, 'missing')), is(400, /does not exist/));
    await assert.rejects(m.createPool('extra', 'lvm', dataDir), is(400, /kind/));
    await assert.rejects(m.createPool('../x', 'dir', dataDir), is(400, /invalid/));
    await assert.rejects(m.createPool('dup', 'dir', path.join(dataDir, 'pools', 'local')), is(409, /already pool local/));
    assert.equal((await m.listPools()).length, 1);
    await fs.mkdir(path.join(dataDir, 'extra'));
    await m.createPool('extra', 'dir', path.join(dataDir, 'extra'));
    assert.equal((await m.listPools()).length, 2);
    await m.createVolume('extra', 'v', 'raw', MiB);
    await assert.rejects(m.deletePool('extra'), is(409, /still holds/));
  });
});

test('a base is protected while linked clones exist', async () => {
  await withManager(async (m) => {
    await m.createVolume('local', 'base', 'qcow2', 4 * MiB);
    const clone = await m.cloneVolume('local', 'base', 'c1', { linked: true });
    assert.deepEqual(clone.base, { pool: 'local', name: 'base' });
    assert.deepEqual((await m.volume('local', 'base')).clones, [{ pool: 'local', name: 'c1' }]);
    await assert.rejects(m.deleteVolume('local', 'base'), is(409, /base of linked clone.*local\/c1/));
    await m.deleteVolume('local', 'c1');
    await m.deleteVolume('local', 'base');
    assert.deepEqual(await m.listVolumes('local'), []);
  });
});

test('deleting an attached volume is refused; releaseVm removes platform-made volumes only', async () => {
  await withManager(async (m, _d, active) => {
    await m.createVolume('local', 'data', 'qcow2', MiB);
    await m.createVolume('local', 'img', 'qcow2', MiB);
    m.attach('vm1', 'local', 'data', 'disk');
    await m.linkedCloneFor('vm1', 'local', 'img', 'vm1-root', 'image-clone');
    active.add('vm1');
    await assert.rejects(m.deleteVolume('local', 'data'), is(409, /attached to running VM vm1/));
    active.delete('vm1');
    await assert.rejects(m.deleteVolume('local', 'data'), is(409, /attached to VM vm1/));
    await m.releaseVm('vm1');
    assert.deepEqual((await m.listVolumes('local')).map((v) => v.name), ['data', 'img']);
    await m.deleteVolume('local', 'img');
  });
});

test('VM disk snapshots: only while stopped, all volumes at once', async () => {
  await withManager(async (m, _d, active) => {
    await m.createVolume('local', 'a', 'qcow2', MiB);
    await m.createVolume('local', 'b', 'qcow2', MiB);
    m.attach('vm1', 'local', 'a');
    m.attach('vm1', 'local', 'b');
    active.add('vm1');
    await assert.rejects(m.vmSnapshotCreate('vm1', 's1'), is(409, /must be stopped/));
    active.delete('vm1');
    await m.vmSnapshotCreate('vm1', 's1');
    const snaps = await m.vmSnapshots('vm1');
    assert.equal(snaps.length, 1);
    assert.deepEqual(snaps[0]?.volumes, ['local/a', 'local/b']);
    await m.vmSnapshotRestore('vm1', 's1');
    await m.vmSnapshotDelete('vm1', 's1');
    assert.deepEqual(await m.vmSnapshots('vm1'), []);
    await assert.rejects(m.vmSnapshotRestore('vm1', 's1'), is(404, /no disk snapshot/));
  });
});
