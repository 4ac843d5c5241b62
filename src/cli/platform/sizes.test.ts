import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize } from './sizes.js';

test('parses binary sizes', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('512M'), 512 * 1024 ** 2);
  assert.equal(parseSize('10G'), 10 * 1024 ** 3);
  assert.equal(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('2t'), 2 * 1024 ** 4);
  for (const bad of ['', 'ten', '-1G', '10X', '0']) assert.throws(() => parseSize(bad), /size/);
});
