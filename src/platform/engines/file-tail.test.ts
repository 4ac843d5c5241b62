import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTail } from './file-tail.js';

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('follows appends from the given offset, restarts after truncation, drains on stop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tail-'));
  const path = join(dir, 'console.log');
  try {
    await writeFile(path, 'old output\n');
    const tail = new FileTail(path, 'old output\n'.length, 50);
    let seen = '';
    tail.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await tail.start();
    await appendFile(path, 'first ');
    await appendFile(path, 'second\n');
    await until(() => seen === 'first second\n');
    await truncate(path, 0);
    await appendFile(path, 'after rotate');
    await until(() => seen.endsWith('after rotate'));
    await appendFile(path, ' + last');
    await tail.stop();
    assert.ok(seen.endsWith('after rotate + last'), JSON.stringify(seen));
    assert.equal(seen.includes('old output'), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing file is created and followed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tail-'));
  const path = join(dir, 'new.log');
  try {
    const tail = new FileTail(path, 0, 50);
    let seen = '';
    tail.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await tail.start();
    await appendFile(path, 'hello');
    await until(() => seen === 'hello');
    await tail.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file past the rotation size is copied aside and cut, and following goes on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tail-'));
  const path = join(dir, 'console.log');
  try {
    const tail = new FileTail(path, 0, 50, { atBytes: 100, toPath: `${path}.1` });
    let seen = '';
    tail.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await tail.start();
    await appendFile(path, 'a'.repeat(150));
    await until(() => seen.length === 150);
    await until(() => tail.position === 0);
    assert.equal((await stat(path)).size, 0);
    assert.equal(await readFile(`${path}.1`, 'utf8'), 'a'.repeat(150));
    await appendFile(path, 'more');
    await until(() => seen === `${'a'.repeat(150)}more`);
    await tail.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
