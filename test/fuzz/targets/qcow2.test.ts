import { it } from 'node:test';
import { runFuzz } from '../run.js';
import { target } from './qcow2.js';

it('qcow2 fuzz target: 150 mutated images fail only with clear errors', async () => {
  await runFuzz(target, 150, 0x9c02);
});
