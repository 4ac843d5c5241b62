import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StorageManager } from '../storage/manager.js';
import { ImageManager } from './manager.js';

/** Runs the task inline and records what it reported. */
function inlineTasks() {
  const logs: string[] = [];
  const progress: number[] = [];
  let done: Promise<void> = Promise.resolve();
  return {
    logs,
    progress,
    wait: () => done,
    run(_kind: string, _target: string | null, work: (ctx: { log(l: string): void; progress(f: number): void }) => Promise<void>) {
      done = work({ log: (l) => logs.push(l), progress: (f) => progress.push(f) });
      return { id: 'task-1' };
    },
  };
}

test('tiny image: build, inspect, refuse duplicate and unknown recipe, protect while cloned, delete', { timeout: 300_000 }, async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-images-'));
  const db = new Database(':memory:');
  try {
    const storage = await StorageManager.open(db, dataDir, { isVmActive: () => false });
    const cacheDir = path.resolve('.cache/images');
    const images = new ImageManager(db, storage, { dataDir, cacheDir });
    assert.throws(() => images.build('x', 'windows', inlineTasks()), /recipe must be one of tiny, debian-12/);
    assert.throws(() => images.build('../x', 'tiny', inlineTasks()), /invalid/);
    const tasks = inlineTasks();
    images.build('tiny', 'tiny', tasks);
    assert.throws(() => images.build('tiny', 'tiny', inlineTasks()), /already exists/);
    await tasks.wait();
    const img = await images.get('tiny');
    assert.equal(img.status, 'ready');
    assert.equal(img.taskId, 'task-1');
    assert.equal(img.disk.volume, 'img-tiny');
    assert.equal(img.disk.virtualSizeBytes, 64 * 1024 * 1024);
    assert.ok(img.boot && (await fs.stat(img.boot.kernel)).size > 1_000_000);
    assert.ok(img.boot?.initrd && (await fs.stat(img.boot.initrd)).size > 100_000);
    const vol = await storage.volume('local', 'img-tiny');
    // The root filesystem is there: the busybox init script, readable through debugfs.
    const raw = path.join(dataDir, 'check.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', vol.path, raw]);
    const rcs = execFileSync('debugfs', ['-R', 'cat /etc/init.d/rcS', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(rcs, /udhcpc/);
    assert.deepEqual((await storage.checkVolume('local', 'img-tiny')).ok, true);
    await storage.cloneVolume('local', 'img-tiny', 'vm1-root', { linked: true });
    await assert.rejects(images.delete('tiny'), /base of 1 VM disk/);
    await storage.deleteVolume('local', 'vm1-root');
    await images.delete('tiny');
    assert.deepEqual(await images.list(), []);
    assert.deepEqual((await storage.listVolumes('local')).map((v) => v.name), []);
  } finally {
    db.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
