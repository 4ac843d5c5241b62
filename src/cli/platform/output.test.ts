import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatTable, progressBar } from './output.js';

test('tables pad columns to the widest cell', () => {
  assert.equal(formatTable(['NAME', 'STATE'], [['demo', 'stopped'], ['a-longer-name', null]]), 'NAME           STATE\ndemo           stopped\na-longer-name  -\n');
});

test('bytes and progress', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(256 * 1024 * 1024), '256.0 MiB');
  assert.equal(progressBar(0.5, 10), '[#####-----]  50%');
  assert.equal(progressBar(2, 4), '[####] 100%');
});
