import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seedFiles, validateCloudInit, writeSeedImage } from './seed.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdz8cB6g8bnRkN5mC4cOm1Ly1WkU1h7gP2gCq9q1dX3 me@host';

test('validation names the bad field', () => {
  assert.throws(() => validateCloudInit({ hostname: 'Bad_Host' }), /cloudInit.hostname/);
  assert.throws(() => validateCloudInit({ sshAuthorizedKeys: ['not a key'] }), /sshAuthorizedKeys\[0\]/);
  assert.throws(() => validateCloudInit({ sshAuthorizedKeys: [KEY + '\nssh-rsa AAAA evil'] }), /sshAuthorizedKeys\[0\]/);
  assert.throws(() => validateCloudInit({ networkConfig: { version: 1 } }), /version 2/);
  assert.throws(() => validateCloudInit({ foo: 1 }), /cloudInit.foo is not a known field/);
  assert.throws(() => validateCloudInit({ userData: 'x'.repeat(70_000) }), /exceeds/);
  assert.deepEqual(validateCloudInit({ hostname: 'web-1.lab', sshAuthorizedKeys: [KEY] }), { hostname: 'web-1.lab', sshAuthorizedKeys: [KEY] });
});

test('seed files: meta-data, cloud-config, default network-config by MAC', () => {
  const f = seedFiles('vm-123', { hostname: 'web-1', sshAuthorizedKeys: [KEY] }, ['52:54:00:01:02:03']);
  assert.equal(f['meta-data'], 'instance-id: "vm-123"\nlocal-hostname: "web-1"\n');
  assert.ok(f['user-data'].startsWith('#cloud-config\n'));
  const cfg = JSON.parse(f['user-data'].slice('#cloud-config\n'.length));
  assert.deepEqual(cfg, { hostname: 'web-1', preserve_hostname: false, ssh_authorized_keys: [KEY] });
  const net = JSON.parse(f['network-config']);
  assert.deepEqual(net, { version: 2, ethernets: { nic0: { match: { macaddress: '52:54:00:01:02:03' }, 'set-name': 'eth0', dhcp4: true } } });
});

test('user-data merged as multipart, or verbatim', () => {
  const merged = seedFiles('i', { hostname: 'h', userData: '#cloud-config\npackages: [htop]\n' }, [])['user-data'];
  assert.match(merged, /^Content-Type: multipart\/mixed; boundary="/);
  assert.equal((merged.match(/Content-Type: text\/cloud-config/g) ?? []).length, 2);
  assert.match(merged, /packages: \[htop\]/);
  assert.match(merged, /"hostname": "h"/);
  const script = seedFiles('i', { userData: '#!/bin/sh\necho hi\n' }, [])['user-data'];
  assert.match(script, /Content-Type: text\/x-shellscript/);
  assert.equal(seedFiles('i', { userData: '#!/bin/sh\necho hi\n', userDataMode: 'verbatim' }, [])['user-data'], '#!/bin/sh\necho hi\n');
});

test('vfat seed labelled CIDATA reads back with mtools; ISO has volid cidata', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-seed-'));
  try {
    const files = seedFiles('vm-9', { hostname: 'seeded' }, ['52:54:00:aa:bb:cc']);
    const img = path.join(dir, 'seed.img');
    await writeSeedImage(files, img, 'vfat');
    const listing = execFileSync('mdir', ['-i', img, '::/'], { encoding: 'utf8' });
    assert.match(listing, /Volume in drive : is CIDATA/);
    for (const name of ['meta-data', 'user-data', 'network-config']) {
      assert.equal(execFileSync('mtype', ['-i', img, `::/${name}`], { encoding: 'utf8' }), files[name as keyof typeof files]);
    }
    const iso = path.join(dir, 'seed.iso');
    await writeSeedImage(files, iso, 'iso');
    const info = execFileSync('xorriso', ['-indev', iso, '-pvd_info'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(info, /Volume Id\s*:\s*cidata/);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['seed.img', 'seed.iso']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
