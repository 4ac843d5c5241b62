/**
 * Real host networking (root): a platform network's bridge, iptables rules and
 * dnsmasq, and a DHCP client in a network namespace on a veth "NIC" standing in
 * for a guest. Isolated network only; everything is torn down at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { NetworkManager } from '../../src/platform/network/manager.js';
import { StorageError } from '../../src/platform/storage/names.js';

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const isRoot = process.getuid?.() === 0;

test('isolated network: bridge, dnsmasq, DHCP lease reported per NIC, overlap refused, clean teardown', { skip: !isRoot && 'needs root', timeout: 60_000 }, async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-net-'));
  const db = new Database(':memory:');
  const nm = new NetworkManager(db, dataDir);
  const ns = `tvtestns${process.pid}`;
  let bridge = '';
  try {
    const net = await nm.create({ name: 'lab', subnet: '10.231.7.0/24', nat: false });
    bridge = net.bridge;
    assert.equal(net.gateway, '10.231.7.1');
    assert.equal(net.dnsmasq.running, true);
    assert.match(sh('ip', '-4', 'addr', 'show', 'dev', bridge), /10\.231\.7\.1\/24/);
    assert.match(sh('iptables', '-S', 'FORWARD'), /typevisor:lab/);

    await assert.rejects(nm.create({ name: 'lab2', subnet: '10.231.0.0/16' }), (e: unknown) => e instanceof StorageError && e.status === 409 && /overlaps network lab/.test(e.message));
    await assert.rejects(nm.create({ name: 'lab', subnet: '10.232.0.0/24' }), /already exists/);
    await assert.rejects(nm.create({ name: 'bad', subnet: '10.232.0.1/24' }), /host bits/);
    assert.deepEqual(nm.list().map((n) => n.name), ['lab']);

    const nics = nm.assignNics('vm-a', nm.validateNics([{ network: 'lab' }]));
    const mac = nics[0]!.mac;
    assert.match(mac, /^52:54:00:/);
    // Stand-in guest: a veth whose bridge end is enslaved like a tap, the other end in a namespace running udhcpc.
    sh('ip', 'netns', 'add', ns);
    sh('ip', 'link', 'add', 'tvtveth0', 'type', 'veth', 'peer', 'name', 'tvtveth1');
    sh('ip', 'link', 'set', 'tvtveth0', 'master', bridge, 'up');
    sh('ip', 'link', 'set', 'tvtveth1', 'netns', ns);
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'tvtveth1', 'address', mac, 'up');
    sh('ip', 'netns', 'exec', ns, 'busybox', 'udhcpc', '-i', 'tvtveth1', '-n', '-q', '-t', '10', '-T', '1', '-s', '/bin/true');
    let ipv4: string | undefined;
    for (let i = 0; i < 50 && !ipv4; i++) {
      ipv4 = nm.nics('vm-a')[0]?.ipv4;
      if (!ipv4) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(ipv4 ?? '', /^10\.231\.7\.\d+$/);

    await assert.rejects(nm.delete('lab'), /used by NICs of VM\(s\) vm-a/);
    await nm.releaseVm('vm-a');
    await nm.delete('lab');
    assert.throws(() => sh('ip', 'link', 'show', bridge));
    assert.doesNotMatch(sh('iptables', '-S', 'FORWARD'), /typevisor:lab/);
    assert.deepEqual(nm.list(), []);
  } finally {
    try { sh('ip', 'netns', 'del', ns); } catch { /* not created */ }
    try { sh('ip', 'link', 'del', 'tvtveth0'); } catch { /* gone with the namespace */ }
    await nm.tearDownAll();
    db.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
