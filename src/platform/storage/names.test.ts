import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveInside, StorageError, validateName } from './names.js';

test('valid names pass', () => {
  for (const n of ['a', 'disk0', 'debian-12', 'x.y_z-1', '9', 'a'.repeat(128)]) assert.equal(validateName(n), n);
});

test('invalid names and traversal are refused with a 400 naming the field', () => {
  for (const n of ['', '.', '..', '../etc', 'a/b', '/abs', '.hidden', 'A', 'a b', 'a'.repeat(129), 'x..y', 'a\0b', '-x', 'é']) {
    assert.throws(() => validateName(n, 'volume'), (e: unknown) => e instanceof StorageError && e.status === 400 && e.field === 'volume', n);
  }
  assert.throws(() => validateName(42), /must be a string/);
});

test('resolveInside keeps paths inside the root', () => {
  assert.equal(resolveInside('/data/pool', 'x.raw'), '/data/pool/x.raw');
  assert.throws(() => resolveInside('/data/pool', '../x'), /escapes/);
  assert.throws(() => resolveInside('/data/pool', '/etc/passwd'), /escapes/);
  assert.throws(() => resolveInside('/data/pool', '.'), /escapes/);
});
