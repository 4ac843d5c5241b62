import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleBuffer } from './console-buffer.js';

test('ring keeps the last capacity bytes in order across wrap-around', () => {
  const b = new ConsoleBuffer(null, 8);
  b.append(Buffer.from('abc'));
  assert.equal(b.snapshot().toString(), 'abc');
  b.append(Buffer.from('defgh'));
  assert.equal(b.snapshot().toString(), 'abcdefgh');
  b.append(Buffer.from('ij'));
  assert.equal(b.snapshot().toString(), 'cdefghij');
  b.append(Buffer.from('0123456789'));
  assert.equal(b.snapshot().toString(), '23456789');
  b.append(Buffer.from('x'));
  assert.equal(b.snapshot().toString(), '3456789x');
});

test('history survives through the log file and the file is cut back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-console-'));
  try {
    const file = join(dir, 'console.log');
    const a = new ConsoleBuffer(file, 8, 20);
    a.append(Buffer.from('hello '));
    a.append(Buffer.from('world'));
    const b = new ConsoleBuffer(file, 8, 20);
    assert.equal(b.snapshot().toString(), 'lo world');
    b.append(Buffer.from('0123456789'));
    assert.ok(statSync(file).size <= 20, 'file cut back to the ring');
    assert.equal(new ConsoleBuffer(file, 8, 20).snapshot().toString(), '23456789');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
