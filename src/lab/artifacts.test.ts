import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInitramfs, ensureKernels, repoRoot } from './artifacts.js';

/** ELF e_machine for x86-64 (System V ABI, AMD64 supplement). */
const EM_X86_64 = 0x3e;

function cpioList(image: string): string {
  return execFileSync('sh', ['-c', 'gzip -dc "$1" | cpio -tv --quiet', 'sh', image], { encoding: 'utf8' });
}

function cpioFile(image: string, path: string): Buffer {
  return execFileSync('sh', ['-c', 'gzip -dc "$1" | cpio -i --to-stdout --quiet "$2"', 'sh', image, path]);
}

test('repoRoot is the typevisor checkout', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'typevisor');
});

test('ensureKernels: Debian cloud and generic kernels with ELF vmlinux, modules and depmod output', { timeout: 600_000 }, async () => {
  const kernels = await ensureKernels();
  for (const [flavour, kernel] of Object.entries(kernels)) {
    assert.match(kernel.version, flavour === 'cloud' ? /^\d+\.\d+\.\d+-\d+-cloud-amd64$/ : /^\d+\.\d+\.\d+-\d+-amd64$/);
    const bzImage = readFileSync(kernel.bzImage);
    assert.equal(bzImage.subarray(0x202, 0x206).toString('latin1'), 'HdrS', `${flavour} bzImage boot protocol magic`);
    const vmlinux = readFileSync(kernel.vmlinux);
    assert.deepEqual([...vmlinux.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${flavour} vmlinux is ELF`);
    assert.equal(vmlinux.readUInt16LE(18), EM_X86_64);
    assert.ok(vmlinux.length > bzImage.length, 'the uncompressed kernel is larger than the bzImage');
    assert.ok(existsSync(join(kernel.modulesDir, 'modules.dep')));
    assert.match(readFileSync(kernel.config, 'utf8'), /^CONFIG_VIRTIO_PCI=[my]$/m);
  }
  const again = await ensureKernels();
  assert.deepEqual(again, kernels);
});

test('buildInitramfs: busybox, /init, and modules in dependency order', { timeout: 300_000 }, async () => {
  const kernels = await ensureKernels();
  const image = await buildInitramfs({
    initSnippet: 'echo artifacts-test-snippet',
    modulesFrom: kernels.generic.modulesDir,
    modules: ['9pnet_virtio', '9p'],
  });
  const listing = cpioList(image);
  // busybox is a real file, never a link onto itself (ELOOP at boot); applets link to it.
  assert.match(listing, /^-rwx\S+ .* bin\/busybox$/m);
  assert.match(listing, /^l\S+ .* bin\/sh -> \/bin\/busybox$/m);
  assert.doesNotMatch(listing, /bin\/busybox -> /);
  assert.match(listing, /^-rwx\S+ .* init$/m);
  assert.equal(cpioFile(image, 'init-snippet.sh').toString().trim(), 'echo artifacts-test-snippet');
  const order = cpioFile(image, 'etc/initramfs-modules').toString().trim().split('\n');
  const position = (name: string): number => {
    const index = order.indexOf(name);
    assert.ok(index >= 0, `${name} missing from ${order.join(' ')}`);
    return index;
  };
  for (const [dependency, dependent] of [
    ['virtio_ring', 'virtio'], ['virtio', '9pnet_virtio'], ['9pnet', '9pnet_virtio'],
    ['9pnet', '9p'], ['netfs', '9p'], ['fscache', '9p'],
  ]) {
    assert.ok(position(dependency) < position(dependent), `${dependency} loads before ${dependent}: ${order.join(' ')}`);
  }
  assert.equal(new Set(order).size, order.length, 'each module loads once');
  for (const name of order) assert.match(listing, new RegExp(`lib/modules/${name}\\.ko$`, 'm'));

  const cachedMtime = statSync(image).mtimeMs;
  const sameImage = await buildInitramfs({
    initSnippet: 'echo artifacts-test-snippet',
    modulesFrom: kernels.generic.modulesDir,
    modules: ['9pnet_virtio', '9p'],
  });
  assert.equal(sameImage, image, 'same inputs, same cached image');
  assert.equal(statSync(sameImage).mtimeMs, cachedMtime, 'the cached image was not rebuilt');
});

test('buildInitramfs: compressed modules (.ko.xz, .ko.zst) are decompressed; extra files are added', { timeout: 300_000 }, async () => {
  const kernels = await ensureKernels();
  const dir = await mkdtemp(join(tmpdir(), 'lab-modules-'));
  try {
    const virtioDir = join(kernels.generic.modulesDir, 'kernel', 'drivers', 'virtio');
    await mkdir(join(dir, 'kernel'), { recursive: true });
    await copyFile(join(virtioDir, 'virtio_ring.ko'), join(dir, 'kernel', 'virtio_ring.ko'));
    await copyFile(join(virtioDir, 'virtio.ko'), join(dir, 'kernel', 'virtio.ko'));
    execFileSync('xz', ['-q', join(dir, 'kernel', 'virtio_ring.ko')]);
    execFileSync('zstd', ['-q', '--rm', join(dir, 'kernel', 'virtio.ko')]);
    const out = join(dir, 'out.cpio.gz');
    await buildInitramfs({
      initSnippet: 'true',
      modulesFrom: dir,
      modules: ['virtio'],
      add: [{ src: join(repoRoot(), 'package.json'), dest: '/etc/typevisor/package.json' }],
      out,
    });
    assert.deepEqual(cpioFile(out, 'etc/initramfs-modules').toString().trim().split('\n'), ['virtio_ring', 'virtio']);
    for (const name of ['virtio_ring', 'virtio']) {
      assert.deepEqual([...cpioFile(out, `lib/modules/${name}.ko`).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    }
    assert.equal(cpioFile(out, 'etc/typevisor/package.json').toString(), readFileSync(join(repoRoot(), 'package.json'), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('buildInitramfs: clear errors for unknown modules and bad options', { timeout: 300_000 }, async () => {
  const kernels = await ensureKernels();
  await assert.rejects(
    buildInitramfs({ initSnippet: 'true', modulesFrom: kernels.cloud.modulesDir, modules: ['no_such_module'], out: join(tmpdir(), 'lab-never.cpio.gz') }),
    /module 'no_such_module' not found/,
  );
  await assert.rejects(buildInitramfs({ initSnippet: 'true', modules: ['virtio'] }), /`modules` needs `modulesFrom`/);
  await assert.rejects(buildInitramfs({ initSnippet: 'true', add: [{ src: '/etc/hostname', dest: 'relative' }] }), /absolute path/);
  await assert.rejects(buildInitramfs({ initSnippet: 'true', add: [{ src: '/no/such/file', dest: '/x' }] }), /does not exist: \/no\/such\/file/);
});
