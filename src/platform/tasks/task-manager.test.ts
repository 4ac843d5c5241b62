import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../store/database.js';
import { EventBus } from '../events/event-bus.js';
import { TaskManager } from './task-manager.js';

test('a task runs, reports progress and logs, and is persisted when it ends', async () => {
  const db = openDatabase(':memory:');
  const events = new EventBus();
  const seen: string[] = [];
  events.subscribe((e) => seen.push(e.type));
  const tasks = new TaskManager(db, events);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = tasks.run('demo', 'target-1', async (ctx) => {
    ctx.log('half way');
    ctx.progress(0.5);
    await gate;
  });
  assert.equal(t.status, 'running');
  assert.equal(tasks.get(t.id).progress, 0.5);
  assert.match(tasks.get(t.id).log[0]!, /half way$/);
  release();
  await tasks.settle();
  const done = tasks.get(t.id);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.progress, 1);
  assert.ok(done.finishedAt);
  assert.deepEqual(seen, ['task.created', 'task.log', 'task.progress', 'task.finished']);
  assert.equal(tasks.list({ target: 'target-1' }).length, 1);
});

test('a failing task records its error; tasks left running by a dead daemon are failed at start', async () => {
  const db = openDatabase(':memory:');
  const tasks = new TaskManager(db, new EventBus());
  const t = tasks.run('boom', null, async () => {
    throw new Error('disk on fire');
  });
  await tasks.settle();
  assert.equal(tasks.get(t.id).status, 'failed');
  assert.equal(tasks.get(t.id).error, 'disk on fire');

  db.prepare("INSERT INTO tasks (id, kind, target, status, progress, error, log, created_at, started_at) VALUES ('x', 'k', NULL, 'running', 0.2, NULL, '[]', 1, 1)").run();
  new TaskManager(db, new EventBus());
  const orphan = db.prepare("SELECT status, error FROM tasks WHERE id = 'x'").get() as { status: string; error: string };
  assert.equal(orphan.status, 'failed');
  assert.match(orphan.error, /daemon stopped/);
  assert.throws(() => tasks.get('nope'), /not found/);
});
