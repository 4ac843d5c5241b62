/**
 * Suite-sized fuzzing: each core target for a bounded time (about 1.5 s) from
 * a fixed seed (override with TYPEVISOR_FUZZ_SEED). `npm run fuzz` runs far more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTargets, runFuzz } from './run.js';

const SEED = Number(process.env.TYPEVISOR_FUZZ_SEED ?? 20261126);
const BUDGET_MS = 1500;
const CHUNK = 250;

for (const name of ['virtqueue', 'net-tx', 'virtio-devices', 'pci']) {
  test(`fuzz target ${name} survives a bounded run`, async () => {
    const target = (await loadTargets()).get(name);
    assert.ok(target, `target ${name} is registered`);
    const started = performance.now();
    let iterations = 0;
    while (performance.now() - started < BUDGET_MS && iterations < 50_000) {
      await runFuzz(target, CHUNK, SEED + iterations);
      iterations += CHUNK;
    }
    assert.ok(iterations >= CHUNK);
  });
}

test('runFuzz reports a failing target with a reproducible seed', async () => {
  const failing = {
    name: 'always-fails',
    description: 'test double',
    run: (random: { int(n: number): number }) => {
      if (random.int(4) === 0) throw new TypeError('bug');
    },
  };
  await assert.rejects(runFuzz(failing, 100, 1), /always-fails failed at seed \d+[\s\S]*--seed \d+ --iterations 1/);
});
