import { it } from 'node:test';
import { runFuzz } from '../run.js';
import { target } from './vsock.js';

it('vsock fuzz target: 500 iterations without a property violation', async () => {
  await runFuzz(target, 500, 0x750c);
});
