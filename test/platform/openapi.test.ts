/**
 * The OpenAPI document matches the registered routes exactly (both directions), every path parameter is
 * declared, every non-public operation requires the bearer scheme, and every request body refuses unknown
 * fields.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startDaemon, type Daemon } from '../../src/platform/daemon.js';
import { cleanup, tempDataDir } from './helpers.js';

let d: Daemon;
let dataDir: string;

before(async () => {
  dataDir = tempDataDir();
  d = await startDaemon({ dataDir, listen: '127.0.0.1:0', demo: false, log: pino({ level: 'silent' }), print: () => {} });
});

after(async () => {
  await d.close();
  cleanup(dataDir);
});

/** fastify's printRoutes tree ("├── /a (GET)" / "│   └── /:id (GET, POST)") -> "GET /a/{id}" lines. */
function registeredRoutes(tree: string): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const method of m[3]!.split(', ')) out.add(`${method} ${path}`);
  }
  return out;
}

test('every registered route is documented and every documented route exists', async () => {
  const doc = (await d.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
  assert.equal(doc.openapi, '3.0.3');
  const documented = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths as Record<string, object>)) {
    for (const m of Object.keys(methods)) documented.add(`${m.toUpperCase()} ${path}`);
  }
  const registered = registeredRoutes(d.app.printRoutes({ commonPrefix: false }));
  assert.ok(registered.size >= 25, `parsed only ${registered.size} routes`);
  assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], 'registered but not documented');
  assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], 'documented but not registered');
});

test('path parameters, security and strict bodies', async () => {
  const doc = (await d.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {  
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(methods)) {
      const declared = (op.parameters as { in: string; name: string }[]).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual(declared.sort(), names.sort(), `${method} ${path} path parameters`);
      if (op['x-access'] === 'public') assert.deepEqual(op.security, []);
      else assert.deepEqual(op.security, [{ bearer: [] }], `${method} ${path} security`);
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) assert.equal(body.additionalProperties, false, `${method} ${path} body refuses unknown fields`);
      assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} responses`);
    }
  }
  // OpenAPI 3.0 has no type arrays: nullable instead.
  assert.ok(!JSON.stringify(doc).includes('"type":["'), 'no JSON Schema type arrays left');
});
