/**
 * Pools, volumes and networks through a real daemon: streamed upload with SHA-256 and progress task,
 * download, clone, resize, and the bad-input cases — each a clear 4xx, nothing lost, nothing half-created.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { call, cleanup, startDaemon, tempDataDir, type DaemonProcess } from '../platform/helpers.js';

let d: DaemonProcess;
let dataDir: string;
const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

before(async () => {
  dataDir = tempDataDir();
  d = await startDaemon({ dataDir });
});

after(async () => {
  for (const n of ['isolated-a', 'isolated-b']) await call(d.url, d.token, 'DELETE', `/api/v1/networks/${n}`).catch(() => undefined);
  await d.stop();
  cleanup(dataDir);
});

const api = (method: string, p: string, body?: unknown) => call(d.url, d.token, method, p, body);
const poolDir = () => path.join(dataDir, 'pools', 'local');
const visible = () => fs.readdirSync(poolDir()).sort();

function upload(p: string, data: Buffer, opts: { cutAfter?: number; contentLength?: number } = {}): Promise<{ status: number; json: any }> {  
  return new Promise((resolve, reject) => {
    const url = new URL(d.url + p);
    const req = http.request(
      { method: 'PUT', host: url.hostname, port: url.port, path: url.pathname + url.search, headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream', 'content-length': String(opts.contentLength ?? data.length) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', (e) => (opts.cutAfter !== undefined ? resolve({ status: 0, json: { error: { message: String(e) } } }) : reject(e)));
    if (opts.cutAfter !== undefined) {
      req.write(data.subarray(0, opts.cutAfter), () => setTimeout(() => req.destroy(), 100));
    } else {
      req.end(data);
    }
  });
}

test('pools: default local exists; a pool path that does not exist is a 400 and nothing is recorded', async () => {
  const pools = await api('GET', '/api/v1/pools');
  assert.equal(pools.status, 200);
  assert.deepEqual(pools.json.pools.map((p: { name: string }) => p.name), ['local']);
  const bad = await api('POST', '/api/v1/pools', { name: 'ghost', path: path.join(dataDir, 'no-such-dir') });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.json.error.message, /does not exist/);
  assert.equal(bad.json.error.field, 'path');
  const trav = await api('POST', '/api/v1/pools', { name: '../etc', path: '/tmp' });
  assert.equal(trav.status, 400);
  assert.equal((await api('GET', '/api/v1/pools')).json.pools.length, 1);
});

test('volumes: create, grow, refuse shrink, linked clone protects the base, qemu-img check passes', async () => {
  const c = await api('POST', '/api/v1/pools/local/volumes', { name: 'data0', format: 'qcow2', sizeBytes: 32 * MiB });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.virtualSizeBytes, 32 * MiB);
  assert.equal((await api('POST', '/api/v1/pools/local/volumes', { name: 'data0', sizeBytes: MiB })).status, 409);
  const grow = await api('POST', '/api/v1/pools/local/volumes/data0/resize', { sizeBytes: 64 * MiB });
  assert.equal(grow.status, 200, grow.text);
  const shrink = await api('POST', '/api/v1/pools/local/volumes/data0/resize', { sizeBytes: 16 * MiB });
  assert.equal(shrink.status, 400);
  assert.match(shrink.json.error.message, /refusing to shrink/);
  assert.equal((await api('GET', '/api/v1/pools/local/volumes/data0')).json.virtualSizeBytes, 64 * MiB);
  const clone = await api('POST', '/api/v1/pools/local/volumes/data0/clone', { target: 'data0-child', linked: true });
  assert.equal(clone.status, 201, clone.text);
  assert.deepEqual(clone.json.base, { pool: 'local', name: 'data0' });
  const del = await api('DELETE', '/api/v1/pools/local/volumes/data0');
  assert.equal(del.status, 409);
  assert.match(del.json.error.message, /base of linked clone/);
  const check = await api('GET', '/api/v1/pools/local/volumes/data0-child/check');
  assert.deepEqual(check.json, { ok: true, errors: 0, leaks: 0, corruptions: 0 });
  const full = await api('POST', '/api/v1/pools/local/volumes/data0-child/clone', { target: 'data0-copy', format: 'raw' });
  assert.equal(full.status, 201, full.text);
  assert.equal(full.json.backingPath, undefined);
  for (const v of ['data0-copy', 'data0-child', 'data0']) assert.equal((await api('DELETE', `/api/v1/pools/local/volumes/${v}`)).status, 204);
  assert.deepEqual(visible(), []);
  const t = await api('GET', '/api/v1/pools/local/volumes/..%2F..%2Fetc%2Fpasswd');
  assert.ok(t.status === 400 || t.status === 404, t.text);
});

test('upload: streamed and verified; wrong checksum and cut-off uploads leave nothing; download matches', async () => {
  const data = Buffer.alloc(8 * MiB);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
  const sha = createHash('sha256').update(data).digest('hex');

  const wrong = await upload(`/api/v1/pools/local/volumes/up/content?format=raw&sha256=${'a'.repeat(64)}`, data);
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error.code, 'checksum_mismatch');
  assert.deepEqual(visible(), []);

  const cut = await upload('/api/v1/pools/local/volumes/up/content?format=raw', data, { cutAfter: 2 * MiB });
  assert.ok(cut.status === 0 || cut.status === 400, JSON.stringify(cut));
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(visible(), [], 'a cut-off upload leaves no file, not even a temporary one');
  assert.equal((await api('GET', '/api/v1/pools/local/volumes/up')).status, 404);
  const failed = (await api('GET', '/api/v1/tasks')).json.tasks.filter((t: { kind: string; status: string }) => t.kind === 'volume.upload' && t.status === 'failed');
  assert.ok(failed.length >= 2);

  const t0 = Date.now();
  const ok = await upload(`/api/v1/pools/local/volumes/up/content?format=raw&sha256=${sha}`, data);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(ok.status, 201, JSON.stringify(ok.json));
  assert.equal(ok.json.sha256, sha);
  assert.equal(ok.json.bytes, data.length);
  assert.equal(ok.json.task.kind, 'volume.upload');
  assert.equal(ok.json.task.status, 'succeeded');
  console.log(`# upload throughput: ${(data.length / MiB / seconds).toFixed(0)} MiB/s (8 MiB)`);
  assert.equal((await upload('/api/v1/pools/local/volumes/up/content', data)).status, 409);

  const res = await fetch(`${d.url}/api/v1/pools/local/volumes/up/content`, { headers: { authorization: `Bearer ${d.token}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-length'), String(data.length));
  assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), sha);

  // A qcow2 pointing at a host file as its backing file is refused.
  const scratch = path.join(dataDir, 'scratch.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', scratch]);
  const evil = await upload('/api/v1/pools/local/volumes/evil/content?format=qcow2', fs.readFileSync(scratch));
  assert.equal(evil.status, 400);
  assert.match(evil.json.error.message, /backing file/);
  assert.equal((await api('DELETE', '/api/v1/pools/local/volumes/up')).status, 204);
  assert.deepEqual(visible(), []);
});

test('networks: isolated network created, overlapping subnet refused, bad CIDR refused, delete tears down', { skip: !isRoot && 'needs root' }, async () => {
  const a = await api('POST', '/api/v1/networks', { name: 'isolated-a', subnet: '10.213.0.0/24', nat: false });
  assert.equal(a.status, 201, a.text);
  assert.equal(a.json.gateway, '10.213.0.1');
  assert.equal(a.json.dnsmasq.running, true);
  const overlap = await api('POST', '/api/v1/networks', { name: 'isolated-b', subnet: '10.213.0.128/25' });
  assert.equal(overlap.status, 409);
  assert.match(overlap.json.error.message, /overlaps network isolated-a/);
  assert.equal(overlap.json.error.field, 'subnet');
  const badCidr = await api('POST', '/api/v1/networks', { name: 'isolated-b', subnet: '10.214.0.0/33' });
  assert.equal(badCidr.status, 400);
  const badNat = await api('POST', '/api/v1/networks', { name: 'isolated-b', subnet: '10.214.0.0/24', nat: 'yes' });
  assert.equal(badNat.status, 400);
  assert.deepEqual((await api('GET', '/api/v1/networks')).json.networks.map((n: { name: string }) => n.name), ['isolated-a']);
  // A VM NIC on the network blocks its deletion.
  const kernel = '/bin/busybox'; // any existing file: the VM is never started
  const vm = await api('POST', '/api/v1/vms', { name: 'nic-holder', boot: { kernel }, nics: [{ network: 'isolated-a' }] });
  assert.equal(vm.status, 201, vm.text);
  assert.match(vm.json.nics[0].mac, /^52:54:00:/);
  const blocked = await api('DELETE', '/api/v1/networks/isolated-a');
  assert.equal(blocked.status, 409);
  assert.match(blocked.json.error.message, /used by NICs/);
  const unknownNet = await api('POST', '/api/v1/vms', { name: 'nic-bad', boot: { kernel }, nics: [{ network: 'nope' }] });
  assert.equal(unknownNet.status, 404, unknownNet.text);
  assert.equal((await api('DELETE', '/api/v1/vms/nic-holder')).status, 204);
  assert.equal((await api('DELETE', '/api/v1/networks/isolated-a')).status, 204);
  assert.throws(() => execFileSync('ip', ['link', 'show', a.json.bridge], { stdio: 'ignore' }));
});

test('deleting a volume attached to a VM is refused', async () => {
  assert.equal((await api('POST', '/api/v1/pools/local/volumes', { name: 'attached', sizeBytes: MiB })).status, 201);
  const vm = await api('POST', '/api/v1/vms', { name: 'holder', boot: { kernel: '/bin/busybox' }, disks: [{ volume: 'attached' }] });
  assert.equal(vm.status, 201, vm.text);
  const del = await api('DELETE', '/api/v1/pools/local/volumes/attached');
  assert.equal(del.status, 409);
  assert.match(del.json.error.message, /attached to VM/);
  const missing = await api('POST', '/api/v1/vms', { name: 'holder2', boot: { kernel: '/bin/busybox' }, disks: [{ volume: 'absent' }] });
  assert.equal(missing.status, 400);
  assert.equal((await api('DELETE', '/api/v1/vms/holder')).status, 204);
  assert.equal((await api('DELETE', '/api/v1/pools/local/volumes/attached')).status, 204);
});
