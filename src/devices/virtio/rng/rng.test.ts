import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioPciTestDriver } from '../transport/test-driver.js';
import { VirtioRng, defaultEntropy } from './rng.js';

test('fills every writable buffer of each request, bounded per request', () => {
  let counter = 0;
  const rng = new VirtioRng({ entropy: (b) => b.forEach((_, i) => (b[i] = counter++ & 0xff)), maxBytesPerRequest: 12 });
  const driver = new VirtioPciTestDriver(rng);
  driver.initialize();
  const q = driver.queues[0]!;
  const a = q.addChain([{ writableLength: 4 }, { writableLength: 4 }]);
  const b = q.addChain([{ writableLength: 64 }]);
  driver.kick(0);
  assert.deepEqual(q.takeUsed(), [
    { head: a, len: 8 },
    { head: b, len: 12 },
  ]);
  assert.deepEqual([...q.readWritten(a, 8)], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(rng.metrics().requests, 2);
});

test('default entropy source fills large buffers', () => {
  const buf = new Uint8Array(200_000);
  defaultEntropy(buf);
  assert.ok(buf.subarray(150_000).some((x) => x !== 0));
});
