/**
 * Issue 4 with a stock Debian guest, on the L1 side of the KVM lab: a guest
 * with an ext4 disk and two open vsock connections (one each way) is
 * snapshotted with `typevisor snapshot`, its VMM killed with SIGKILL, and the
 * snapshot restored with `typevisor restore`. Records what the guest and the
 * host saw; virtio-snapshot.test.ts asserts on the record.
 *
 * The guest (SNAPSHOT_GUEST_INIT, in virtio-snapshot.test.ts) mounts the disk,
 * starts `vsock-echo serve 5000` and leaves a shell on the console; this side
 * types commands there and reads the answers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { vmmRequest } from '../../src/cli/vmm-client.js';
import { SOCKET_DIR, VmmProcess, sh, sleep, step, typevisorBin, vsockConnect } from './lab-process.js';

export interface SnapshotDebianSpec {
  kernel: string;
  /** Initramfs whose init runs SNAPSHOT_GUEST_INIT. */
  initrd: string;
  /** An ext4 image (the guest writes to it; the host test reads it back afterwards). */
  disk: string;
}

/** A guest->host connection as the host peer (`<uds>_6000`) saw it. */
interface PeerConnection {
  received: string;
  ended: string | null;
}

/** How long one typed command may take to answer (the guest runs under nested KVM on TCG). */
const COMMAND_MS = 120_000;
const VSOCK_PORT_GUEST = 5000;
const VSOCK_PORT_HOST = 6000;
/** ash prints a prompt ending in "# "; markers are built so the echo of the typed line cannot match them. */
const sha256Of = (file: string) => `$(sha256sum ${file} | cut -d' ' -f1)`;
const HEX64 = '([0-9a-f]{64})';

export async function snapshotDebianScenario(spec: SnapshotDebianSpec): Promise<Record<string, unknown>> {
  const r: Record<string, unknown> = {};
  const uds = join(SOCKET_DIR, 'snapshot-vsock.sock');
  const api = join(SOCKET_DIR, 'snapshot-debian.sock');
  const restoredApi = join(SOCKET_DIR, 'snapshot-debian-restored.sock');
  // The snapshot goes to L1's tmpfs: the 9p share is far too slow for a memory file under TCG.
  const snap = join(SOCKET_DIR, 'snapshot-debian');
  for (const path of [uds, `${uds}_${VSOCK_PORT_HOST}`, snap]) rmSync(path, { recursive: true, force: true });

  // Host peer for guest-initiated connections: echoes every line and keeps the connection open.
  const peerConnections: PeerConnection[] = [];
  const peerSockets: Socket[] = [];
  const peer = createServer((c) => {
    const rec: PeerConnection = { received: '', ended: null };
    peerConnections.push(rec);
    peerSockets.push(c);
    c.on('data', (d) => {
      rec.received += d.toString('latin1');
      c.write(d);
    });
    c.on('end', () => (rec.ended ??= 'eof'));
    c.on('error', (e: NodeJS.ErrnoException) => (rec.ended ??= e.code ?? e.message));
    c.on('close', () => (rec.ended ??= 'closed'));
  });
  await new Promise<void>((res) => peer.listen(`${uds}_${VSOCK_PORT_HOST}`, () => res()));

  step('snapshot-debian: starting the Debian guest');
  const t0 = performance.now();
  const vm = new VmmProcess([
    'run', '--kernel', spec.kernel, '--initrd', spec.initrd, '--memory', '256', '--cpus', '2',
    '--cmdline', 'console=ttyS0 reboot=k panic=-1 quiet',
    '--disk', `${spec.disk},serial=snap-disk`,
    '--vsock', `cid=3,uds=${uds}`, '--api-sock', api,
  ]);
  let restored: VmmProcess | undefined;
  try {
    await vm.waitForBoot(/TVS: ready/);
    r['bootMs'] = performance.now() - t0;
    // 1. A file on the disk, synced (ext4 mounted by the init).
    step('snapshot-debian: writing the disk');
    const wrote = await vm.type(
      `dd if=/dev/urandom of=/mnt/d/payload.bin bs=64k count=64 2>/dev/null && sync && echo "TVS: wrote ${sha256Of('/mnt/d/payload.bin')}"`,
      new RegExp(`TVS: wrote ${HEX64}`), COMMAND_MS);
    r['payloadSha'] = wrote[1];
    // 2. Two vsock connections left open across the snapshot: guest->host (hold) and host->guest (serve).
    step('snapshot-debian: vsock connections');
    const heldReply = await vm.type(`/bin/vsock-echo hold 2 ${VSOCK_PORT_HOST} ping-g2h-before &`, /vsock-echo: reply (\S*)\r?\n/, COMMAND_MS);
    r['g2hBeforeReply'] = heldReply[1];
    const h2gBefore = await vsockConnect(uds, VSOCK_PORT_GUEST, 'ping-h2g-before', COMMAND_MS);
    r['h2gBefore'] = h2gBefore.received;
    await vm.waitFor(/vsock-echo: served ping-h2g-before/, COMMAND_MS);
    r['metricsBefore'] = await vmmRequest(api, 'GET', '/vm/metrics').catch((e: Error) => e.message);
    // 3. Snapshot through the CLI (it pauses the VM first), read asynchronously so the console keeps draining.
    step('snapshot-debian: typevisor snapshot');
    const s0 = performance.now();
    const cli = new VmmProcess(['snapshot', '--api-sock', api, '--output', snap]);
    r['snapshotStatus'] = await Promise.race([cli.exit, sleep(300_000).then(() => 'timeout')]);
    r['snapshotMs'] = performance.now() - s0;
    r['snapshotOutput'] = cli.out + cli.err;
    r['snapshotFiles'] = existsSync(snap) ? sh(`ls -ls ${snap}`) : 'missing';
    // 4. kill -9: the host ends of both connections see their VMM go away.
    step('snapshot-debian: kill -9');
    vm.child.kill('SIGKILL');
    await vm.exit;
    await Promise.race([h2gBefore.closed, sleep(10_000)]);
    r['h2gBeforeEnded'] = h2gBefore.ended;
    await sleep(500);
    r['g2hBeforeEnded'] = peerConnections[0]?.ended ?? 'no connection';

    // 5. Restore in a new VMM process.
    step('snapshot-debian: typevisor restore');
    const r0 = performance.now();
    restored = new VmmProcess(['restore', '--snapshot', snap, '--api-sock', restoredApi]);
    // The guest learns from VIRTIO_VSOCK_EVENT_TRANSPORT_RESET that both connections are gone.
    const held = await restored.waitFor(/vsock-echo: held connection ended \(([^)\r\n]*)\)/, 180_000);
    r['heldEnded'] = held[1];
    const served = await restored.waitFor(/vsock-echo: served connection ended \(([^)\r\n]*)\)/, COMMAND_MS);
    r['servedEnded'] = served[1];
    r['restoreToResetMs'] = performance.now() - r0;
    // 6. The shell answers.
    await restored.type('echo TVS:""alive $((6 * 7))', /TVS:alive 42/, COMMAND_MS);
    r['restoreToShellMs'] = performance.now() - r0;
    r['shellAnswered'] = true;
    // 7. The file reads back from the disk (page cache dropped, so the bytes come through the restored VMM).
    step('snapshot-debian: disk after restore');
    const reread = await restored.type(
      `echo 3 > /proc/sys/vm/drop_caches; echo "TVS: reread ${sha256Of('/mnt/d/payload.bin')}"`,
      new RegExp(`TVS: reread ${HEX64}`), COMMAND_MS);
    r['payloadShaAfterRestore'] = reread[1];
    // 8. New writes work and read back from the disk.
    const after = await restored.type(
      `dd if=/dev/urandom of=/mnt/d/after.bin bs=64k count=32 2>/dev/null && sync && echo 3 > /proc/sys/vm/drop_caches && echo "TVS: wrote-after ${sha256Of('/mnt/d/after.bin')}"`,
      new RegExp(`TVS: wrote-after ${HEX64}`), COMMAND_MS);
    r['afterSha'] = after[1];
    // 9. New vsock connections work both ways.
    step('snapshot-debian: new vsock connections');
    const h2gAfter = await vsockConnect(uds, VSOCK_PORT_GUEST, 'ping-h2g-after', COMMAND_MS);
    r['h2gAfter'] = h2gAfter.received;
    h2gAfter.socket.end();
    const reply = await restored.type(`/bin/vsock-echo connect 2 ${VSOCK_PORT_HOST} ping-g2h-after`, /vsock-echo: reply (\S*)\r?\n/, COMMAND_MS);
    r['g2hAfterReply'] = reply[1];
    r['metricsAfter'] = await vmmRequest(restoredApi, 'GET', '/vm/metrics').catch((e: Error) => e.message);
    // 10. A clean end: unmount so the host can check the ext4 image, then power off.
    step('snapshot-debian: power off');
    await restored.type('umount /mnt/d && echo TVS:""unmounted && poweroff -f', /TVS:unmounted/, COMMAND_MS);
    r['restoredExit'] = await Promise.race([restored.exit, sleep(60_000).then(() => 'timeout')]);
  } catch (e) {
    r['error'] = (e as Error).message;
  } finally {
    vm.child.kill('SIGKILL');
    await vm.exit;
    if (restored) {
      restored.child.kill('SIGKILL');
      await restored.exit;
    }
    for (const s of peerSockets) s.destroy();
    peer.close();
  }
  r['peerConnections'] = peerConnections;
  r['stdout'] = vm.out;
  r['stderr'] = vm.err;
  r['restoredStdout'] = restored?.out ?? '';
  r['restoredStderr'] = restored?.err ?? '';

  // 11. The restored guest wrote to the disk, so the snapshot no longer matches it: restoring again is refused.
  // (Only then: against an unchanged disk the restore would run the guest until the timeout.)
  if (r['afterSha']) {
    step('snapshot-debian: restore against the changed disk');
    const changed = spawnSync(process.execPath, [typevisorBin, 'restore', '--snapshot', snap], { encoding: 'utf8', timeout: 120_000 });
    r['changedDiskStatus'] = changed.status;
    r['changedDiskStderr'] = changed.stderr;
    r['changedDiskStdout'] = changed.stdout;
  }
  rmSync(snap, { recursive: true, force: true });
  return r;
}
