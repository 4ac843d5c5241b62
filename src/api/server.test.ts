/**
 * The control API's validation and state rules, through fastify's inject (no
 * KVM needed: every case is refused before a VM would be created), and the
 * OpenAPI document against the real route table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vmm } from '../vmm/vmm.js';
import { buildApi } from './server.js';
import { openApiDocument } from './openapi.js';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) dir = dirname(dir);
  return dir;
}

function api() {
  return buildApi(new Vmm('test', { kvmPath: '/nonexistent/kvm' }));
}

test('configuration before boot is accepted and shown', async () => {
  const app = api();
  let r = await app.inject({ method: 'PUT', url: '/machine-config', payload: { vcpu_count: 2, mem_size_mib: 512 } });
  assert.equal(r.statusCode, 204);
  r = await app.inject({ method: 'PUT', url: '/boot-source', payload: { kernel_image_path: '/k', boot_args: 'console=ttyS0' } });
  assert.equal(r.statusCode, 204);
  r = await app.inject({ method: 'PUT', url: '/drives/rootfs', payload: { drive_id: 'rootfs', path_on_host: '/d.img', is_read_only: true } });
  assert.equal(r.statusCode, 204);
  r = await app.inject({ method: 'GET', url: '/' });
  assert.equal(r.statusCode, 200);
  const info = r.json();
  assert.equal(info.state, 'not-started');
  assert.equal(info.config.vcpus, 2);
  assert.equal(info.config.memoryMiB, 512);
  assert.equal(info.config.disks[0].readonly, true);
  r = await app.inject({ method: 'GET', url: '/machine-config' });
  assert.deepEqual(r.json(), { vcpu_count: 2, mem_size_mib: 512 });
});

test('malformed requests are 400 with a message naming the problem', async () => {
  const app = api();
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['PUT', '/machine-config', { vcpu_count: 0, mem_size_mib: 256 }, /vcpu_count/],
    ['PUT', '/machine-config', { vcpu_count: 'two', mem_size_mib: 256 }, /vcpu_count/],
    ['PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 256, extra: 1 }, /additional/],
    ['PUT', '/boot-source', {}, /kernel_image_path/],
    ['PUT', '/drives/a', { drive_id: 'b', path_on_host: '/x', is_read_only: false }, /differs from the path/],
    ['PUT', '/drives/a', { drive_id: 'a', path_on_host: '/x', is_read_only: 'no' }, /is_read_only/],
    ['PUT', '/drives/a', { drive_id: 'a', path_on_host: '/x', is_read_only: false, format: 'vmdk' }, /format/],
    ['PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0', guest_mac: 'zz' }, /guest_mac/],
    ['PUT', '/vsock', { guest_cid: 2, uds_path: '/v.sock' }, /guest_cid/],
    ['PUT', '/actions', { action_type: 'Explode' }, /action_type/],
    ['PATCH', '/vm', { state: 'Sleeping' }, /state/],
    ['PUT', '/snapshot/create', {}, /snapshot_path/],
  ];
  for (const [method, url, payload, msg] of cases) {
    const r = await app.inject({ method: method as 'PUT', url, payload: payload as object });
    assert.equal(r.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}`);
    assert.match(r.json().fault_message, msg);
  }
  const r = await app.inject({ method: 'PUT', url: '/machine-config', headers: { 'content-type': 'application/json' }, payload: '{"vcpu_count": ' });
  assert.equal(r.statusCode, 400);
  const huge = await app.inject({ method: 'PUT', url: '/boot-source', payload: { kernel_image_path: 'x'.repeat(100_000) } });
  assert.equal(huge.statusCode, 413);
  const unknown = await app.inject({ method: 'GET', url: '/nope' });
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.json().fault_message, /no route GET \/nope/);
});

test('actions refused in the wrong state are 409 and say why', async () => {
  const app = api();
  let r = await app.inject({ method: 'PATCH', url: '/vm', payload: { state: 'Paused' } });
  assert.equal(r.statusCode, 409);
  assert.match(r.json().fault_message, /not allowed while the VM is not-started \(allowed: running\)/);
  r = await app.inject({ method: 'PUT', url: '/snapshot/create', payload: { snapshot_path: '/tmp/x' } });
  assert.equal(r.statusCode, 409);
  r = await app.inject({ method: 'PUT', url: '/actions', payload: { action_type: 'SendPowerButton' } });
  assert.equal(r.statusCode, 409);
  // InstanceStart without a boot source: 400 naming what is missing.
  r = await app.inject({ method: 'PUT', url: '/actions', payload: { action_type: 'InstanceStart' } });
  assert.equal(r.statusCode, 400);
  assert.match(r.json().fault_message, /no boot source/);
  // A snapshot that does not exist: 400.
  r = await app.inject({ method: 'PUT', url: '/snapshot/load', payload: { snapshot_path: '/nonexistent/snap' } });
  assert.equal(r.statusCode, 400);
  assert.match(r.json().fault_message, /does not exist/);
});

test('the OpenAPI document covers exactly the real routes and matches the committed copy', async () => {
  const app = api();
  await app.ready();
  const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${path}`);
  const real = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const m of Object.keys(ops)) {
      const url = path.replace(/\{([a-z_]+)\}/g, 'x');
      const r = await app.inject({ method: m.toUpperCase() as 'GET', url, payload: m === 'get' ? undefined : {} });
      assert.notEqual(r.statusCode, 404, `${m} ${path} is documented but not routed`);
      real.add(`${m.toUpperCase()} ${path}`);
    }
  }
  assert.deepEqual([...real].sort(), [...documented].sort());
  // An undocumented path is not routed either.
  assert.equal((await app.inject({ method: 'DELETE', url: '/vm' })).statusCode, 404);
  const committed = JSON.parse(readFileSync(join(repoRoot(), 'docs/vmm-api.openapi.json'), 'utf8'));
  assert.deepEqual(committed, doc, 'docs/vmm-api.openapi.json is stale: regenerate with node dist/src/api/openapi.js');
});
