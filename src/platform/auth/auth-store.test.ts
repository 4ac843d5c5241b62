import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../store/database.js';
import { AuthStore } from './auth-store.js';
import { hashPassword, verifyPassword } from './secrets.js';
import { roleAllows } from './roles.js';

test('scrypt hashes verify and differ per salt', async () => {
  const a = await hashPassword('hunter2hunter2');
  const b = await hashPassword('hunter2hunter2');
  assert.notEqual(a, b);
  assert.ok(await verifyPassword('hunter2hunter2', a));
  assert.ok(!(await verifyPassword('hunter3hunter3', a)));
  assert.ok(!(await verifyPassword('x', 'garbage')));
});

test('tokens are stored hashed, expire, and resolve to their role', () => {
  const db = openDatabase(':memory:');
  const auth = new AuthStore(db);
  const { secret, token } = auth.createToken('ops', 'operator');
  assert.equal(auth.authenticate(secret)?.role, 'operator');
  const stored = JSON.stringify(db.prepare('SELECT * FROM api_tokens').all());
  assert.ok(!stored.includes(secret), 'secret not stored');
  assert.equal(auth.authenticate(secret + 'x'), null);
  const expired = auth.createToken('old', 'admin', { expiresAt: Date.now() - 1 });
  assert.equal(auth.authenticate(expired.secret), null);
  auth.revokeToken(token.id);
  assert.equal(auth.authenticate(secret), null);
  assert.throws(() => auth.revokeToken(token.id), /not found/);
});

test('role order', () => {
  assert.ok(roleAllows('admin', 'viewer'));
  assert.ok(roleAllows('operator', 'operator'));
  assert.ok(!roleAllows('viewer', 'operator'));
  assert.ok(!roleAllows('operator', 'admin'));
});
