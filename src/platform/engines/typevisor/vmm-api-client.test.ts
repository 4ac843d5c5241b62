import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { VmmApiClient, VmmApiError } from './vmm-api-client.js';

test('JSON over a Unix socket: answers, empty answers, faults, silence', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vmmapi-'));
  const path = join(dir, 'api.sock');
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      if (text) bodies.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(text) });
      if (req.url === '/vm/info') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x","state":"Running"}');
      } else if (req.url === '/machine-config') {
        res.writeHead(204).end();
      } else if (req.url === '/actions') {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"fault_message":"unknown action_type"}');
      } else if (req.url === '/plain') {
        res.writeHead(500).end('internal trouble');
      } else {
        // /slow: never answers
      }
    });
  });
  server.listen(path);
  await once(server, 'listening');
  try {
    const client = new VmmApiClient(path, 300);
    assert.deepEqual(await client.get('/vm/info'), { id: 'x', state: 'Running' });
    assert.equal(await client.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 }), undefined);
    assert.deepEqual(bodies, [
      { method: 'PUT', url: '/machine-config', type: 'application/json', body: { vcpu_count: 1, mem_size_mib: 128 } },
    ]);
    await assert.rejects(client.put('/actions', { action_type: 'Nope' }), (error: unknown) => {
      assert.ok(error instanceof VmmApiError);
      assert.equal(error.status, 400);
      assert.equal(error.fault, 'unknown action_type');
      assert.match(error.message, /PUT \/actions answered 400: unknown action_type/);
      return true;
    });
    await assert.rejects(client.get('/plain'), /answered 500: internal trouble/);
    await assert.rejects(client.get('/slow'), /no answer within 300 ms/);
    await assert.rejects(new VmmApiClient(join(dir, 'absent.sock')).get('/vm/info'), /absent\.sock: connect ENOENT/);
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
