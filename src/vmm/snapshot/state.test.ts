import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync, renameSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmConfig } from '../config.js';
import { SnapshotFormatError } from './format.js';
import { checkDiskIdentities, diskIdentities } from './state.js';

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tv-snapdisks-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function configWith(disks: VmConfig['disks']): VmConfig {
  return { disks } as VmConfig;
}

test('unchanged disks pass the restore check', () => {
  withDir((dir) => {
    const disk = join(dir, 'a.raw');
    writeFileSync(disk, Buffer.alloc(1 << 20, 7));
    const ids = diskIdentities(configWith([{ path: disk, readonly: false }]));
    assert.equal(ids.length, 1);
    assert.equal(ids[0]!.size, 1 << 20);
    checkDiskIdentities(JSON.parse(JSON.stringify(ids)));
  });
});

test('a disk written, resized, replaced or removed after the snapshot is refused, naming the disk', () => {
  withDir((dir) => {
    const disk = join(dir, 'a.raw');
    const reset = () => writeFileSync(disk, Buffer.alloc(1 << 20, 7));
    const cases: Array<[string, () => void, RegExp]> = [
      // Same size, new contents: only the modification time tells (a write one second later).
      ['written', () => { writeFileSync(disk, Buffer.alloc(1 << 20, 8)); utimesSync(disk, new Date(), new Date(Date.now() + 1000)); }, /changed since the snapshot/],
      ['resized', () => truncateSync(disk, 2 << 20), /changed since the snapshot/],
      ['replaced by a copy with the same size and mtime', () => {
        const { atime, mtime } = statSync(disk);
        copyFileSync(disk, `${disk}.new`);
        utimesSync(`${disk}.new`, atime, mtime);
        renameSync(`${disk}.new`, disk);
      }, /changed since the snapshot/],
      ['removed', () => rmSync(disk), /no longer exists/],
    ];
    for (const [what, change, message] of cases) {
      reset();
      const ids = diskIdentities(configWith([{ path: disk, readonly: false }]));
      change();
      assert.throws(() => checkDiskIdentities(ids), (e: Error) => e instanceof SnapshotFormatError && message.test(e.message) && e.message.includes(disk), what);
    }
  });
});

test('a qcow2 overlay records its backing file too: a changed base is refused', () => {
  withDir((dir) => {
    const base = join(dir, 'base.raw');
    const overlay = join(dir, 'overlay.qcow2');
    writeFileSync(base, Buffer.alloc(1 << 20, 1));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
    const ids = diskIdentities(configWith([{ path: overlay, readonly: false, format: 'qcow2' }]));
    assert.deepEqual(ids.map((d) => d.path), [overlay, base]);
    checkDiskIdentities(ids);
    utimesSync(base, new Date(), new Date(Date.now() + 5000));
    assert.throws(() => checkDiskIdentities(ids), new RegExp(`disk ${base} changed since the snapshot`));
  });
});
