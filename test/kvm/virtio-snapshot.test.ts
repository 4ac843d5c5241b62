/**
 * Issue 3 (virtio devices with a stock Debian guest) and issue 4 (pause,
 * snapshot, restore; with the test guest, and with a Debian guest holding a
 * disk and vsock connections) on real KVM: one KVM-lab run executes the
 * scenarios of lab-scenarios.ts; this file prepares the guest artifacts and
 * disk images and checks the record and the images afterwards.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildTestGuest } from '../guest/build.js';
import { buildGuestTools } from '../guest-tools/build.js';
import { buildInitramfs, ensureKernels } from '../../src/lab/artifacts.js';
import { runInLab } from '../../src/lab/lab.js';
import { repoRoot } from '../helpers/repo.js';
import type { LabSpec } from './lab-scenarios.js';

const IO_INIT = `
echo "TVIO: start"
mkdir -p /mnt/a /mnt/b
mount -t ext4 -o ro /dev/vda /mnt/a && echo "TVIO: sha $(sha256sum /mnt/a/hello.txt | cut -d' ' -f1)"
echo "TVIO: serial $(cat /sys/block/vda/serial 2>/dev/null)"
mount -t ext4 /dev/vdb /mnt/b && echo written-by-guest > /mnt/b/guest.txt && sync && umount /mnt/b && echo "TVIO: wrote-overlay"
if dd if=/dev/zero of=/dev/vdc bs=4096 count=1 conv=fsync 2>/dev/null; then echo "TVIO: ro-write-succeeded"; else echo "TVIO: ro-write-refused"; fi
echo "TVIO: rng $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
ip link set lo up; ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0
echo "TVIO: mac $(cat /sys/class/net/eth0/address)"
if ping -c 3 -W 10 10.99.0.1 >/dev/null; then echo "TVIO: ping-ok"; else echo "TVIO: ping-failed"; fi
dd if=/dev/zero bs=65536 count=64 2>/dev/null | nc 10.99.0.1 5001 && echo "TVIO: tcp-sent"
/bin/vsock-echo listen 5000 &
sleep 1
echo "TVIO: vsock-listening"
/bin/vsock-echo connect 2 6000 ping-g2h
wait
echo "TVIO: memfree-before $(grep MemFree /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
echo "TVIO: balloon-wait"
read -r x
echo "TVIO: memfree-after $(grep MemFree /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
echo "TVIO: done"
`;

/**
 * The Debian guest of the snapshot scenario (snapshot-debian-scenario.ts):
 * the disk mounted, a vsock echo server on port 5000, then a shell on the
 * console for the host to type into.
 */
const SNAPSHOT_GUEST_INIT = `
mkdir -p /mnt/d
mount -t ext4 /dev/vda /mnt/d || echo "TVS: mount-failed"
/bin/vsock-echo serve 5000 &
sleep 1
echo "TVS: ready"
sh
`;

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A file inside an ext4 image, read with debugfs (no mount needed). */
function fileInExt4(image: string, name: string): Buffer {
  const out = join(work, `extracted-${name}`);
  rmSync(out, { force: true });
  execFileSync('debugfs', ['-R', `dump /${name} ${out}`, image], { stdio: 'ignore' });
  return readFileSync(out);
}

let record: { snapshot: Record<string, any>; io: Record<string, any>; snapshotDebian: Record<string, any> };
let work = '';
let snapshotDisk = '';
let helloSha = '';
let baseShaBefore = '';

function field(name: string): RegExpMatchArray | null {
  return (record.io['stdout'] as string | undefined)?.match(new RegExp(`TVIO: ${name}(?: (\\S+))?`)) ?? null;
}

describe('virtio devices and snapshots on real KVM (KVM lab)', { timeout: 1_800_000 }, () => {
  before(async () => {
    const kernels = await ensureKernels();
    const guest = await buildTestGuest();
    const tools = buildGuestTools();
    // .cache is shared by every checkout on this machine: one work directory per checkout.
    work = join(repoRoot(), `.cache/lab/io-work-${basename(repoRoot())}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'content'), { recursive: true });
    writeFileSync(join(work, 'content/hello.txt'), 'hello from the host, checksummed in the guest\n'.repeat(1000));
    helloSha = sha256(join(work, 'content/hello.txt'));
    const ext4 = join(work, 'data.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', join(work, 'content'), ext4, '32M']);
    const base = join(work, 'base.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', base, '32M']);
    baseShaBefore = sha256(base);
    const overlay = join(work, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
    const ro = join(work, 'readonly.raw');
    writeFileSync(ro, Buffer.alloc(4 * 1024 * 1024));
    const ioInitrd = await buildInitramfs({
      initSnippet: IO_INIT,
      modulesFrom: kernels.cloud.modulesDir,
      modules: ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_rng', 'virtio_balloon', 'vmw_vsock_virtio_transport', 'ext4'],
      add: [{ src: tools.vsockEcho, dest: '/bin/vsock-echo' }],
    });
    snapshotDisk = join(work, 'snapshot-disk.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', snapshotDisk, '32M']);
    const snapshotInitrd = await buildInitramfs({
      initSnippet: SNAPSHOT_GUEST_INIT,
      modulesFrom: kernels.cloud.modulesDir,
      modules: ['virtio_pci', 'virtio_blk', 'vmw_vsock_virtio_transport', 'ext4'],
      add: [{ src: tools.vsockEcho, dest: '/bin/vsock-echo' }],
    });
    const spec: LabSpec = {
      testGuest: guest, kernel: kernels.cloud.bzImage, ioInitrd, images: { ext4, overlay, readonlyDisk: ro }, workDir: work,
      snapshotDebian: { kernel: kernels.cloud.bzImage, initrd: snapshotInitrd, disk: snapshotDisk },
    };
    writeFileSync(join(work, 'spec.json'), JSON.stringify(spec));
    const lab = await runInLab({
      script: `node dist/test/kvm/lab-scenarios.js ${join(work, 'spec.json')} ${join(work, 'record.json')}`,
      // LAB_SCENARIOS=snapshotDebian (say) runs only that scenario while working on it; the others' tests then fail.
      ...(process.env['LAB_SCENARIOS'] ? { env: { LAB_SCENARIOS: process.env['LAB_SCENARIOS'] } } : {}),
      timeoutMs: 420_000, // under the suite's 600 s per file: a hang ends with the lab's output
      memoryMiB: 4096,
      shareWritable: [work],
    });
    assert.equal(lab.exitCode, 0, `lab-scenarios failed inside L1:\n${lab.output.slice(-4000)}`);
    record = JSON.parse(readFileSync(join(work, 'record.json'), 'utf8'));
    for (const [name, scenario] of Object.entries(record)) {
      const fault = scenario?.['labFault'] as { fault: string; error: string } | undefined;
      if (fault) process.stderr.write(`virtio/snapshot lab: the ${name} scenario's first guest died of a lab fault (${fault.fault}) and ran again:\n${fault.error}\n`);
    }
    const durations = Object.entries(record).map(([name, r]) => `${name} ${Math.round(Number(r['durationMs']) / 1000)} s`).join(', ');
    process.stderr.write(`virtio/snapshot lab: queued ${lab.queuedMs} ms, L1 up in ${lab.l1BootMs} ms, total ${lab.totalMs} ms (${durations})\n`);
  });

  describe('issue 4: pause, snapshot, restore', () => {
    test('pause stops the guest counting and resume continues', () => {
      const s = record.snapshot;
      assert.ok(!s['error'], String(s['error']));
      assert.equal(s['afterPause3s'], s['pausedAt'], 'count advanced while paused');
      assert.equal(s['infoPaused'].state, 'Paused');
      assert.match(String(s['pauseAgain']), /not allowed while the VM is paused/);
      assert.ok(s['resumedTo'] >= s['pausedAt'] + 3);
    });
    test('a snapshot is written, and restoring it (twice) continues the count where it stopped', () => {
      const s = record.snapshot;
      assert.equal(s['snapshotStatus'], 0, s['snapshotOutput']);
      assert.match(s['snapshotFiles'], /state\.tvs/);
      assert.match(s['snapshotFiles'], /memory\.bin/);
      for (const run of ['restore1', 'restore2']) {
        assert.ok(!s[`${run}Error`], s[`${run}Error`]);
        assert.equal(s[`${run}FirstCount`], s['countAtSnapshot'] + 1, `${run} continued from ${s['countAtSnapshot']} (partial line at the snapshot: ${JSON.stringify(s['partialLineAtSnapshot'])})`);
        assert.equal(s[`${run}Continued`], true);
      }
    });
    test('a corrupted snapshot is refused with a clear message', () => {
      const s = record.snapshot;
      assert.equal(s['corruptStatus'], 1);
      assert.match(s['corruptStderr'], /corrupted \(checksum mismatch\)/);
    });
    test('a snapshot whose vCPU state KVM refuses is a 400 through the API; the VMM stays up and loads a good one next', () => {
      const s = record.snapshot;
      assert.match(String(s['refusedLoad']), /^400 snapshot .*vCPU 0's state cannot be restored on this host: .*MSR 0xdeadbeef/, String(s['refusedLoad']));
      assert.equal((s['infoAfterRefused'] as { state?: string } | undefined)?.state, 'Not started', JSON.stringify(s['infoAfterRefused']));
      assert.equal(s['loadAfterRefusedContinued'], true, String(s['loadAfterRefusedError']));
    });
  });

  describe('issue 4 with a Debian guest: a disk and vsock connections across snapshot, kill -9 and restore', () => {
    const d = () => record.snapshotDebian;
    const guestLog = () => `${String(d()['error'] ?? '')}\nrestored console tail:\n${String(d()['restoredStdout']).slice(-3000)}\nstderr: ${String(d()['restoredStderr']).slice(-1500)}`;
    test('the snapshot is written while a file is on the disk and two vsock connections are open', () => {
      assert.ok(d(), 'the snapshotDebian scenario did not run');
      assert.match(String(d()['payloadSha']), /^[0-9a-f]{64}$/, `${String(d()['error'])}\n${String(d()['stdout']).slice(-3000)}`);
      assert.equal(d()['g2hBeforeReply'], 'ping-g2h-before');
      assert.match(String(d()['h2gBefore']), /^OK \d+\nping-h2g-before\n/);
      const vsockBefore = (d()['metricsBefore'] as { devices: Array<{ name: string; metrics: Record<string, number> }> }).devices.find((x) => x.name === 'vsock');
      assert.equal(vsockBefore?.metrics['connections'], 2, JSON.stringify(d()['metricsBefore']));
      assert.equal(d()['snapshotStatus'], 0, d()['snapshotOutput']);
      assert.match(d()['snapshotFiles'], /state\.tvs/);
      assert.match(d()['snapshotFiles'], /memory\.bin/);
    });
    test('after kill -9 and restore, the guest shell answers a command typed on the console', () => {
      assert.equal(d()['shellAnswered'], true, guestLog());
    });
    test('the file written before the snapshot reads back intact from the disk; new writes work', () => {
      assert.equal(d()['payloadShaAfterRestore'], d()['payloadSha'], guestLog());
      assert.match(String(d()['afterSha']), /^[0-9a-f]{64}$/, guestLog());
      assert.equal(d()['restoredExit'], 0, `the restored guest did not power off cleanly: ${guestLog()}`);
      // The host reads the image itself: a consistent ext4 holding both files with the guest's checksums.
      execFileSync('e2fsck', ['-fn', snapshotDisk], { stdio: 'pipe' });
      assert.equal(createHash('sha256').update(fileInExt4(snapshotDisk, 'payload.bin')).digest('hex'), d()['payloadSha']);
      assert.equal(createHash('sha256').update(fileInExt4(snapshotDisk, 'after.bin')).digest('hex'), d()['afterSha']);
    });
    test('connections open at the snapshot are reset in the guest (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, virtio 1.2 §5.10.6.7)', () => {
      // Both guest sockets end with ECONNRESET: no packet is exchanged on them, only the event tells the guest.
      assert.equal(d()['heldEnded'], 'Connection reset by peer', guestLog());
      assert.equal(d()['servedEnded'], 'Connection reset by peer', guestLog());
      const vsockAfter = (d()['metricsAfter'] as { devices: Array<{ name: string; metrics: Record<string, number> }> }).devices.find((x) => x.name === 'vsock');
      assert.equal(vsockAfter?.metrics['transportResets'], 1, JSON.stringify(d()['metricsAfter']));
      // Their host ends went away with the killed VMM.
      assert.ok(d()['h2gBeforeEnded'], 'the host end of the host->guest connection stayed open after kill -9');
      assert.ok(d()['g2hBeforeEnded'], 'the host end of the guest->host connection stayed open after kill -9');
    });
    test('new vsock connections after the restore work both ways', () => {
      assert.match(String(d()['h2gAfter']), /^OK \d+\nping-h2g-after\n/, guestLog());
      assert.equal(d()['g2hAfterReply'], 'ping-g2h-after', guestLog());
      const peers = d()['peerConnections'] as Array<{ received: string }>;
      assert.deepEqual(peers.map((p) => p.received), ['ping-g2h-before\n', 'ping-g2h-after\n']);
    });
    test('once the restored guest has written to the disk, restoring the snapshot again is refused before anything runs', () => {
      assert.equal(d()['changedDiskStatus'], 1, `${String(d()['changedDiskStderr'])}${String(d()['changedDiskStdout']).slice(-500)}`);
      assert.match(d()['changedDiskStderr'], new RegExp(`disk ${snapshotDisk.replace(/[.]/g, '\\.')} changed since the snapshot was taken`));
      assert.equal(d()['changedDiskStdout'], '', 'the guest ran');
    });
  });

  describe('issue 3: virtio devices with a stock Debian guest', () => {
    test('the guest boots with the virtio drivers and ends cleanly', () => {
      assert.ok(!record.io['error'], String(record.io['error']) + String(record.io['stdout']).slice(-3000));
      assert.match(record.io['stdout'], /TVIO: done/);
      assert.equal(record.io['exitCode'], 0, record.io['stderr']);
    });
    test('virtio-blk: an ext4 image made with mkfs.ext4 -d reads back with the same checksum; serial is the device id', () => {
      assert.equal(field('sha')?.[1], helloSha);
      assert.equal(field('serial')?.[1], 'data-disk');
    });
    test('virtio-blk: a write to a qcow2 overlay lands in the overlay, the base stays untouched, qemu-img check passes', () => {
      assert.ok(field('wrote-overlay'));
      assert.equal(sha256(join(work, 'base.ext4')), baseShaBefore);
      execFileSync('qemu-img', ['check', '-q', join(work, 'overlay.qcow2')]);
      const raw = join(work, 'overlay-flat.raw');
      execFileSync('qemu-img', ['convert', '-O', 'raw', join(work, 'overlay.qcow2'), raw]);
      const content = execFileSync('debugfs', ['-R', 'cat /guest.txt', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      assert.equal(content, 'written-by-guest\n');
    });
    test('virtio-blk: a read-only disk refuses writes', () => {
      assert.ok(field('ro-write-refused'), record.io['stdout']);
    });
    test('virtio-rng gives bytes', () => {
      const hex = field('rng')?.[1] ?? '';
      assert.match(hex, /^[0-9a-f]{32}$/);
      assert.notEqual(hex, '0'.repeat(32));
    });
    test('virtio-net: ping and a 4 MiB TCP transfer to a peer in a network namespace; MAC as configured', () => {
      assert.equal(field('mac')?.[1], '52:54:00:12:34:56');
      assert.ok(field('ping-ok'), record.io['stdout']);
      assert.equal(record.io['tcpBytes'], 64 * 65536);
    });
    test('virtio-vsock: host to guest (CONNECT handshake) and guest to host (uds_PORT)', () => {
      assert.match(record.io['h2g'], /^OK \d+\nping-h2g\n/);
      assert.match(record.io['stdout'], /vsock-echo: reply ping-g2h/);
    });
    test('virtio-balloon: inflating shrinks the guest free memory', () => {
      const before = Number(field('memfree-before')?.[1]);
      const after = Number(field('memfree-after')?.[1]);
      assert.ok(before - after > 64 * 1024, `MemFree ${before} kB -> ${after} kB after a 128 MiB balloon (${JSON.stringify(record.io['balloonInfo'])})`);
    });
  });
});
