import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withDirLock } from './host-tools.js';

test('withDirLock runs one holder at a time and removes its lock', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tv-lock-'));
  try {
    const order: string[] = [];
    const hold = (name: string) =>
      withDirLock(dir, async () => {
        order.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 50));
        order.push(`${name} out`);
      });
    await Promise.all([hold('a'), hold('b')]);
    // Either may win the race for the lock; what matters is that the second enters only after the first left.
    const first = order[0]!.split(' ')[0]!;
    const second = first === 'a' ? 'b' : 'a';
    assert.deepEqual(order, [`${first} in`, `${first} out`, `${second} in`, `${second} out`]);
    assert.equal(existsSync(path.join(dir, '.lock')), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a lock left by a killed builder is taken over at once; a live owner is waited for', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tv-lock-'));
  try {
    // A pid that existed and is gone: a child that has exited and been reaped.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    await mkdir(path.join(dir, '.lock'));
    await writeFile(path.join(dir, '.lock', 'owner'), String(deadPid));
    const started = Date.now();
    assert.equal(await withDirLock(dir, async () => 'ran'), 'ran');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);

    await mkdir(path.join(dir, '.lock'));
    await writeFile(path.join(dir, '.lock', 'owner'), String(process.pid));
    let ran = false;
    const waiting = withDirLock(dir, async () => {
      ran = true;
    });
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(ran, false, 'ran while a live process held the lock');
    await rm(path.join(dir, '.lock'), { recursive: true });
    await waiting;
    assert.equal(ran, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
