import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CRASHES, RestartPolicyTracker } from './restart-policy.js';

test('backoff doubles up to a minute', () => {
  const t = new RestartPolicyTracker(() => {});
  assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map((n) => t.delayFor(n)), [1000, 2000, 4000, 8000, 60000, 60000, 60000]);
});

test('restarts after the delay, gives up after too many crashes in the window', async () => {
  let now = 0;
  const restarted: string[] = [];
  const t = new RestartPolicyTracker((id) => restarted.push(id), () => now);
  assert.equal(t.crashed('vm1'), null);
  await new Promise((r) => setTimeout(r, 1100));
  assert.deepEqual(restarted, ['vm1']);
  for (let i = 1; i < MAX_CRASHES; i++) assert.equal(t.crashed('vm1'), null);
  assert.match(t.crashed('vm1') ?? '', /gave up/);
  // Crashes older than the window no longer count.
  now += 11 * 60 * 1000;
  assert.equal(t.crashed('vm1'), null);
  t.cancelAll();
});
