/**
 * Auth through a real daemon: every route of the OpenAPI document, for no credentials, a bad token and every
 * role: 401 without valid credentials, 403 for a role below the route's, never 401/403 for an allowed role.
 * Then users, sessions (login/logout/expiry by password change) and tokens.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, cleanup, startDaemon, type DaemonProcess } from './helpers.js';
import { roleAllows, ROLES, type Role } from '../../src/platform/auth/roles.js';

let d: DaemonProcess;
const tokens = {} as Record<Role, string>;

before(async () => {
  d = await startDaemon();
  tokens.admin = d.token;
  for (const role of ['operator', 'viewer'] as const) {
    const r = await call(d.url, d.token, 'POST', '/api/v1/tokens', { name: `t-${role}`, role });
    assert.equal(r.status, 201, r.text);
    tokens[role] = r.json.secret;
  }
});

after(async () => {
  await d.stop();
  cleanup(d.dataDir);
});

interface Op { method: string; path: string; access: string }

async function operations(): Promise<Op[]> {
  const doc = (await call(d.url, null, 'GET', '/api/v1/openapi.json')).json;
  const ops: Op[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { 'x-access': string }>>)) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'no-such-thing'), access: op['x-access'] });
    }
  }
  return ops;
}

function bodyFor(method: string): unknown {
  return method === 'POST' || method === 'PATCH' ? {} : undefined;
}

test('every route: 401 without or with bad credentials, 403 below its role, allowed otherwise', async () => {
  const ops = await operations();
  assert.ok(ops.length >= 25, `only ${ops.length} operations documented`);
  let checked = 0;
  for (const op of ops) {
    if (op.access === 'public') continue;
    const none = await call(d.url, null, op.method, op.path, bodyFor(op.method));
    assert.equal(none.status, 401, `${op.method} ${op.path} without credentials: ${none.text}`);
    assert.equal(none.json.error.code, 'unauthenticated');
    const bad = await call(d.url, 'tv_not-a-real-token', op.method, op.path, bodyFor(op.method));
    assert.equal(bad.status, 401, `${op.method} ${op.path} with a bad token`);
    for (const role of ROLES) {
      const r = await call(d.url, tokens[role], op.method, op.path, bodyFor(op.method));
      if (roleAllows(role, op.access as Role)) {
        assert.ok(r.status !== 401 && r.status !== 403, `${role} ${op.method} ${op.path} should be allowed, got ${r.status} ${r.text}`);
        assert.ok(r.status < 500, `${role} ${op.method} ${op.path}: ${r.status} ${r.text}`);
      } else {
        assert.equal(r.status, 403, `${role} ${op.method} ${op.path} should be forbidden, got ${r.status} ${r.text}`);
        assert.equal(r.json.error.code, 'forbidden');
      }
      checked++;
    }
  }
  assert.ok(checked >= 75);
});

test('a malformed Authorization header is 401, not a crash', async () => {
  for (const header of ['Basic abc', 'Bearer', 'Bearer a b', 'token']) {
    const res = await fetch(`${d.url}/api/v1/vms`, { headers: { authorization: header } });
    assert.equal(res.status, 401, header);
  }
});

test('users, sessions and logout', async () => {
  const created = await call(d.url, tokens.admin, 'POST', '/api/v1/users', { name: 'alice', role: 'operator', password: 'correct horse battery' });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.role, 'operator');
  assert.equal((await call(d.url, tokens.admin, 'POST', '/api/v1/users', { name: 'alice', role: 'viewer', password: 'whatever123' })).status, 409);

  const wrong = await call(d.url, null, 'POST', '/api/v1/auth/login', { user: 'alice', password: 'wrong password' });
  assert.equal(wrong.status, 401);
  const unknown = await call(d.url, null, 'POST', '/api/v1/auth/login', { user: 'nobody', password: 'wrong password' });
  assert.equal(unknown.json.error.message, wrong.json.error.message, 'unknown user and wrong password look the same');

  const login = await call(d.url, null, 'POST', '/api/v1/auth/login', { user: 'alice', password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  const session = login.json.token as string;
  assert.ok(Date.parse(login.json.expiresAt) > Date.now());
  const me = await call(d.url, session, 'GET', '/api/v1/auth/whoami');
  assert.deepEqual([me.json.kind, me.json.name, me.json.role], ['session', 'alice', 'operator']);
  assert.equal((await call(d.url, session, 'GET', '/api/v1/users')).status, 403, 'operator session cannot list users');

  // A password change ends the user's sessions.
  assert.equal((await call(d.url, tokens.admin, 'PATCH', '/api/v1/users/alice', { password: 'another password' })).status, 200);
  assert.equal((await call(d.url, session, 'GET', '/api/v1/vms')).status, 401);

  const again = await call(d.url, null, 'POST', '/api/v1/auth/login', { user: 'alice', password: 'another password' });
  assert.equal((await call(d.url, again.json.token, 'POST', '/api/v1/auth/logout', {})).status, 204);
  assert.equal((await call(d.url, again.json.token, 'GET', '/api/v1/vms')).status, 401, 'logged out');

  assert.equal((await call(d.url, tokens.admin, 'DELETE', '/api/v1/users/alice')).status, 204);
  assert.equal((await call(d.url, null, 'POST', '/api/v1/auth/login', { user: 'alice', password: 'another password' })).status, 401);
});

test('tokens: listed without secrets, revoked tokens stop working', async () => {
  const r = await call(d.url, tokens.admin, 'POST', '/api/v1/tokens', { name: 'ci', role: 'viewer', expiresInDays: 1 });
  assert.equal(r.status, 201);
  assert.equal((await call(d.url, r.json.secret, 'GET', '/api/v1/vms')).status, 200);
  const list = await call(d.url, tokens.admin, 'GET', '/api/v1/tokens');
  assert.ok(!list.text.includes(r.json.secret), 'secrets never listed');
  assert.ok(list.json.tokens.some((t: { name: string }) => t.name === 'ci'));
  assert.equal((await call(d.url, tokens.admin, 'DELETE', `/api/v1/tokens/${r.json.token.id}`)).status, 204);
  assert.equal((await call(d.url, r.json.secret, 'GET', '/api/v1/vms')).status, 401);
});

test('WebSockets: 401 without a token, ?token= accepted', async () => {
  const { WebSocket } = await import('ws');
  const status = (path: string): Promise<number> =>
    new Promise((resolve) => {
      const ws = new WebSocket(d.url.replace('http', 'ws') + path);
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => {});
    });
  assert.equal(await status('/api/v1/events'), 401);
  assert.equal(await status('/api/v1/events?token=bogus'), 401);
  assert.equal(await status(`/api/v1/events?token=${tokens.viewer}`), 101);
  assert.equal(await status(`/api/v1/vms/no-such-vm/console?token=${tokens.viewer}`), 404);
});

test('an over-long body sent slowly still gets its 413 (the rest is drained, the connection is not reset)', async () => {
  const { request } = await import('node:http');
  const total = 3 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const result = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`${d.url}/api/v1/vms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', 'content-length': String(total) },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => void bodySent.then(() => resolve({ status: res.statusCode ?? 0, text })));
    });
    // The whole body must go out without EPIPE/ECONNRESET: the server keeps reading it after the 413.
    const bodySent = new Promise<void>((ok) => req.on('finish', ok));
    req.on('error', (e) => reject(new Error(`sending the body failed: ${e.message}`)));
    // Pace the body so the server has answered long before the last byte: a closing server would reset us.
    let sent = 0;
    const pump = (): void => {
      if (req.destroyed) return;
      if (sent >= total) return void req.end();
      req.write(chunk);
      sent += chunk.length;
      setTimeout(pump, 2);
    };
    pump();
  });
  assert.equal(result.status, 413, result.text);
  assert.match(JSON.parse(result.text).error.message, /too large/);
});
