import { it } from 'node:test';
import { runFuzz } from '../run.js';
import { target } from './block.js';

it('block fuzz target: 500 iterations without a property violation', async () => {
  await runFuzz(target, 500, 0x5eed);
});
