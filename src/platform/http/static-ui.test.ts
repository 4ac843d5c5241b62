import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerStaticUi } from './static-ui.js';

let root: string;
let app: FastifyInstance;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tv-ui-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(root, 'assets', 'app-abc123.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'app-abc123.js.gz'), gzipSync('console.log(1)'));
  app = Fastify();
  await registerStaticUi(app, root);
  await app.ready();
});

after(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

test('files are served; hashed assets are cached for good, index.html is revalidated', async () => {
  const js = await app.inject({ method: 'GET', url: '/assets/app-abc123.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.body, 'console.log(1)');
  assert.match(String(js.headers['cache-control']), /immutable/);
  const index = await app.inject({ method: 'GET', url: '/' });
  assert.equal(index.statusCode, 200);
  assert.match(index.body, /id="root"/);
  assert.match(String(index.headers['cache-control']), /max-age=0/);
});

test('precompressed assets go to browsers that accept them; files without one are sent plain', async () => {
  const gz = await app.inject({ method: 'GET', url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'br, gzip' } });
  assert.equal(gz.statusCode, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gz.rawPayload).toString(), 'console.log(1)');
  const index = await app.inject({ method: 'GET', url: '/vms', headers: { 'accept-encoding': 'br, gzip' } });
  assert.equal(index.statusCode, 200);
  assert.equal(index.headers['content-encoding'], undefined);
  assert.match(index.body, /id="root"/);
});

test('UI paths fall back to index.html (deep links, reloads)', async () => {
  for (const url of ['/vms', '/vms/web-1', '/storage?x=1']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.match(r.body, /id="root"/, url);
  }
});

test('unknown API paths keep the API 404 shape; traversal never leaves the UI directory', async () => {
  const api = await app.inject({ method: 'GET', url: '/api/v1/nothing' });
  assert.equal(api.statusCode, 404);
  assert.equal(api.json().error.code, 'not_found');
  writeFileSync(join(root, '..', 'tv-ui-secret.txt'), 'secret');
  try {
    for (const url of ['/../tv-ui-secret.txt', '/%2e%2e/tv-ui-secret.txt', '/assets/..%2f..%2ftv-ui-secret.txt']) {
      const r = await app.inject({ method: 'GET', url });
      assert.doesNotMatch(r.body, /secret/, url);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/%E0%A4%A' })).statusCode, 400);
  } finally {
    rmSync(join(root, '..', 'tv-ui-secret.txt'), { force: true });
  }
});

test('without a built UI the daemon says how to build it', async () => {
  const bare = Fastify();
  await registerStaticUi(bare, null);
  const r = await bare.inject({ method: 'GET', url: '/' });
  assert.equal(r.statusCode, 503);
  assert.match(r.body, /vite build web/);
  await bare.close();
});
