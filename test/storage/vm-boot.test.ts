/**
 * Images, linked clones, cloud-init and networks with real guests (qemu engine; TCG on this host), all
 * through the daemon's API: build the `tiny` image, boot two VMs from linked clones on an isolated
 * network, check cloud-init's hostname on the serial console, the DHCP leases in GET /vms/{id}, a ping
 * between them, and that the image's base disk is unchanged afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { call, cleanup, ConsoleReader, openWs, startDaemon, tempDataDir, waitForState, waitForTask, type DaemonProcess } from '../platform/helpers.js';
import { repoRoot } from '../../src/platform/images/host-tools.js';

const isRoot = process.getuid?.() === 0;
let d: DaemonProcess;
let dataDir: string;
const api = (method: string, p: string, body?: unknown) => call(d.url, d.token, method, p, body);
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

before(async () => {
  // Kernels and debootstrap results are cached across runs in the repository's .cache.
  process.env['TYPEVISOR_IMAGE_CACHE'] ??= path.join(repoRoot(), '.cache', 'images');
  dataDir = tempDataDir();
  d = await startDaemon({ dataDir });
});

after(async () => {
  for (const vm of ['alpha', 'beta']) await api('DELETE', `/api/v1/vms/${vm}?force=true`).catch(() => undefined);
  await api('DELETE', '/api/v1/networks/tvtest-lan').catch(() => undefined);
  await d.stop();
  cleanup(dataDir);
});

test('tiny image: two linked-clone VMs on an isolated network get hostnames, leases, and ping each other', { skip: !isRoot && 'needs root (bridges, taps)', timeout: 600_000 }, async () => {
  const t0 = Date.now();
  const build = await api('POST', '/api/v1/images', { name: 'tiny', recipe: 'tiny' });
  assert.equal(build.status, 202, build.text);
  assert.equal(build.json.image.status, 'building');
  const task = await waitForTask(d.url, d.token, build.json.task.id, 300_000);
  assert.equal(task.status, 'succeeded', JSON.stringify(task));
  assert.ok(task.log.some((l: string) => /image tiny ready/.test(l)));
  console.log(`# tiny image build: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const image = (await api('GET', '/api/v1/images/tiny')).json;
  assert.equal(image.status, 'ready');
  const basePath = path.join(dataDir, 'pools', 'local', 'img-tiny.qcow2');
  const baseSum = sha256(basePath);

  const net = await api('POST', '/api/v1/networks', { name: 'tvtest-lan', subnet: '10.219.33.0/24', nat: false });
  assert.equal(net.status, 201, net.text);

  const ids: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) {
    const t1 = Date.now();
    const vm = await api('POST', '/api/v1/vms', { name, engine: 'qemu', memoryMiB: 192, image: 'tiny', nics: [{ network: 'tvtest-lan' }], cloudInit: { hostname: `${name}-host` } });
    assert.equal(vm.status, 201, vm.text);
    console.log(`# VM create with linked clone: ${Date.now() - t1} ms`);
    ids[name] = vm.json.id;
    assert.match(vm.json.nics[0].mac, /^52:54:00:/);
    const vols = (await api('GET', '/api/v1/pools/local/volumes')).json.volumes as Array<{ name: string; base?: { name: string } }>;
    assert.ok(vols.some((v) => v.name === `vm-${vm.json.id}-root` && v.base?.name === 'img-tiny'), 'linked clone of the image');
  }
  const readers: Record<string, ConsoleReader> = {};
  for (const name of ['alpha', 'beta']) {
    readers[name] = new ConsoleReader(await openWs(d.url, `/api/v1/vms/${name}/console`, d.token));
    const start = await api('POST', `/api/v1/vms/${name}/start`);
    assert.equal(start.status, 202, start.text);
    const st = await waitForTask(d.url, d.token, start.json.task.id);
    assert.equal(st.status, 'succeeded', JSON.stringify(st));
  }
  // The image refuses deletion while VMs use clones of it.
  const delImage = await api('DELETE', '/api/v1/images/tiny');
  assert.equal(delImage.status, 409);

  const ips: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) {
    await readers[name]!.waitFor(`typevisor-tiny: hostname ${name}-host`, 180_000);
    // The whole line: a match on a chunk that ends inside the address ("10.219.33.1" of "10.219.33.123/24") raced
    // the assertion below.
    await readers[name]!.waitFor(/typevisor-tiny: eth0 10\.219\.33\.\d+\/24\r?\n/, 120_000);
    const end = Date.now() + 30_000;
    for (;;) {
      const view = (await api('GET', `/api/v1/vms/${name}`)).json;
      if (view.nics[0].ipv4) {
        ips[name] = view.nics[0].ipv4;
        break;
      }
      assert.ok(Date.now() < end, `no lease reported for ${name}: ${JSON.stringify(view.nics)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(ips[name]!, /^10\.219\.33\.\d+$/);
    assert.ok(readers[name]!.text.includes(`eth0 ${ips[name]}/24`), 'the console shows the address the API reports');
  }
  assert.notEqual(ips['alpha'], ips['beta']);
  await readers['alpha']!.waitFor('typevisor-tiny: ready', 60_000);
  readers['alpha']!.ws.send(Buffer.from(`ping -c 3 -W 5 ${ips['beta']}\n`));
  await readers['alpha']!.waitFor(/3 packets transmitted, [1-3] packets received/, 60_000);
  for (const r of Object.values(readers)) r.ws.close();

  for (const name of ['alpha', 'beta']) {
    const stop = await api('POST', `/api/v1/vms/${name}/stop`, { timeoutSeconds: 10 });
    assert.equal(stop.status, 202, stop.text);
    await waitForTask(d.url, d.token, stop.json.task.id, 60_000);
    await waitForState(d.url, d.token, name, 'stopped');
  }
  // The disk snapshot API works on the stopped VM's qcow2 clone.
  const snap = await api('POST', '/api/v1/vms/alpha/disk-snapshots', { name: 'after-first-boot' });
  assert.equal(snap.status, 201, snap.text);
  assert.equal(snap.json.snapshots[0].name, 'after-first-boot');
  assert.equal((await api('POST', '/api/v1/vms/alpha/disk-snapshots/after-first-boot/restore')).status, 200);

  for (const name of ['alpha', 'beta']) assert.equal((await api('DELETE', `/api/v1/vms/${name}`)).status, 204);
  assert.equal(sha256(basePath), baseSum, 'the base image is unchanged by its clones');
  const leftovers = (await api('GET', '/api/v1/pools/local/volumes')).json.volumes.map((v: { name: string }) => v.name);
  assert.deepEqual(leftovers, ['img-tiny'], 'clones and seeds are deleted with their VMs');
  assert.equal((await api('DELETE', '/api/v1/networks/tvtest-lan')).status, 204);
  assert.equal((await api('DELETE', '/api/v1/images/tiny')).status, 204);
  assert.equal(fs.existsSync(basePath), false);
});
