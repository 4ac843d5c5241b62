import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { identify } from './proc.js';
import { ProcessWatch, type ProcessEnd } from './process-watch.js';

test('a child reports its signal; a non-child is noticed by polling /proc', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const identity = await identify(child.pid!);
  assert.ok(identity);

  const asChild = new ProcessWatch(identity, child, 50);
  const asStranger = new ProcessWatch(identity, undefined, 50);
  const childEnd = once(asChild, 'exit') as Promise<[ProcessEnd]>;
  const strangerEnd = once(asStranger, 'exit') as Promise<[ProcessEnd]>;
  assert.equal(await asChild.waitExit(100), false);
  child.kill('SIGKILL');
  assert.deepEqual((await childEnd)[0], { code: null, signal: 'SIGKILL' });
  assert.deepEqual((await strangerEnd)[0], { code: null, signal: null });
  assert.equal(await asStranger.waitExit(10), true);
});

test('a stopped watch reports nothing', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const identity = await identify(child.pid!);
  assert.ok(identity);
  const watch = new ProcessWatch(identity, child, 20);
  let reported = false;
  watch.on('exit', () => (reported = true));
  watch.stop();
  child.kill('SIGKILL');
  await once(child, 'exit');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(reported, false);
});
