/**
 * L1-side programs for the KVM lab (run as `node dist/test/kvm/lab-scenarios.js
 * SPEC.json OUT.json`): the virtio scenario (issue 3), the pause/snapshot/
 * restore scenario (issue 4) and issue 4 with a Debian guest, a disk and
 * vsock (snapshot-debian-scenario.ts); LAB_SCENARIOS=a,b runs only those.
 * They drive real `typevisor` processes and record what happened; the
 * host-side tests assert on the record.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, renameSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vmmRequest } from '../../src/cli/vmm-client.js';
import { decodeState, encodeState, STATE_FILE } from '../../src/vmm/snapshot/format.js';
import { SOCKET_DIR, VmmProcess, sh, sleep, step, typevisorBin as bin, vsockConnect } from './lab-process.js';
import { guestLabFault } from './guest-lab-fault.js';
import { snapshotDebianScenario, type SnapshotDebianSpec } from './snapshot-debian-scenario.js';

export interface LabSpec {
  testGuest: string;
  kernel: string;
  ioInitrd: string;
  images: { ext4: string; overlay: string; readonlyDisk: string };
  workDir: string;
  /** Issue 4 with a Debian guest: a disk and vsock connections across snapshot, kill -9 and restore. */
  snapshotDebian: SnapshotDebianSpec;
}

/** Issue 4: pause/resume while counting; snapshot, kill -9, restore twice. */
async function snapshotScenario(spec: LabSpec): Promise<Record<string, unknown>> {
  const sock = join(SOCKET_DIR, 'count.sock');
  // Snapshots go to L1's tmpfs: the 9p share is far too slow for a memory file under TCG.
  const snap = join(SOCKET_DIR, 'snap');
  rmSync(snap, { recursive: true, force: true });
  const vm = new VmmProcess(['run', '--kernel', spec.testGuest, '--cmdline', 'tvg.test=count', '--memory', '64', '--api-sock', sock]);
  const r: Record<string, unknown> = {};
  try {
    step('snapshot: waiting for the guest to count');
    await vm.waitFor(/TVG: count 3\b/, 180_000);
    step('snapshot: pausing');
    await vmmRequest(sock, 'PATCH', '/vm', { state: 'Paused' });
    const pausedAt = vm.lastCount();
    await sleep(3000);
    r['pausedAt'] = pausedAt;
    r['afterPause3s'] = vm.lastCount();
    r['infoPaused'] = await vmmRequest(sock, 'GET', '/vm/info');
    r['pauseAgain'] = await vmmRequest(sock, 'PATCH', '/vm', { state: 'Paused' }).then(() => 'accepted', (e: Error) => e.message);
    step('snapshot: resuming');
    await vmmRequest(sock, 'PATCH', '/vm', { state: 'Resumed' });
    await vm.waitFor(new RegExp(`TVG: count ${pausedAt + 3}\\b`), 120_000);
    r['resumedTo'] = vm.lastCount();
    const t0 = performance.now();
    step('snapshot: typevisor snapshot');
    // Asynchronously, so the guest's console output keeps being read while the CLI pauses and snapshots it.
    const cli = new VmmProcess(['snapshot', '--api-sock', sock, '--output', snap]);
    const status = await Promise.race([cli.exit, sleep(300_000).then(() => 'timeout')]);
    await sleep(1000); // the last console bytes before the pause
    step(`snapshot: done (${String(status)}) ${cli.err}`);
    r['snapshotMs'] = performance.now() - t0;
    r['snapshotStatus'] = status;
    r['snapshotOutput'] = cli.out + cli.err;
    r['countAtSnapshot'] = vm.lastCount();
    // The pause can land in the middle of a line ("TVG: count 11" printed, "1\r\n" not yet): the restored guest
    // then prints the rest of that line first, so its output is read as the continuation of this partial line.
    r['partialLineAtSnapshot'] = vm.out.slice(vm.out.lastIndexOf('\n') + 1);
    r['snapshotFiles'] = existsSync(snap) ? sh(`ls -l ${snap}`) : 'missing';
  } finally {
    vm.child.kill('SIGKILL');
    await vm.exit;
  }
  for (const run of ['restore1', 'restore2']) {
    step(`snapshot: ${run}`);
    const t0 = performance.now();
    const rv = new VmmProcess(['restore', '--snapshot', snap]);
    try {
      const partial = String(r['partialLineAtSnapshot'] ?? '');
      const deadline = Date.now() + 180_000;
      let m: RegExpExecArray | null;
      while (!(m = /TVG: count (\d+)\r?\n/.exec(partial + rv.out))) {
        if (Date.now() > deadline || rv.child.exitCode !== null) {
          throw new Error(`no count after the restore (exit ${rv.child.exitCode})\nstdout tail: ${rv.out.slice(-1500)}\nstderr: ${rv.err.slice(-1500)}`);
        }
        await sleep(200);
      }
      r[`${run}FirstCount`] = Number(m[1]);
      r[`${run}FirstCountMs`] = performance.now() - t0;
      await rv.waitFor(new RegExp(`TVG: count ${Number(m[1]) + 2}\\b`), 60_000);
      r[`${run}Continued`] = true;
    } catch (e) {
      r[`${run}Error`] = (e as Error).message;
    } finally {
      rv.child.kill('SIGKILL');
      await rv.exit;
    }
  }
  // A corrupted snapshot is refused with a message, and nothing runs.
  const corrupt = join(SOCKET_DIR, 'snap-corrupt');
  rmSync(corrupt, { recursive: true, force: true });
  sh(`cp -r ${snap} ${corrupt} && printf 'X' | dd of=${corrupt}/state.tvs bs=1 seek=100 conv=notrunc 2>/dev/null`);
  step('snapshot: corrupted restore');
  const bad = spawnSync(process.execPath, [bin, 'restore', '--snapshot', corrupt], { encoding: 'utf8', timeout: 120_000 });
  r['corruptStatus'] = bad.status;
  r['corruptStderr'] = bad.stderr;

  // A snapshot whose vCPU state KVM refuses (an MSR no CPU has; the checksum is intact) is refused through the API
  // after the device thread has started building (Machine.start restores the vCPUs meanwhile). The VMM stays up and
  // not started, and loads the good snapshot next.
  step('snapshot: a vCPU state KVM refuses, through the API');
  const refused = join(SOCKET_DIR, 'snap-refused');
  rmSync(refused, { recursive: true, force: true });
  sh(`cp -r ${snap} ${refused}`);
  const state = decodeState(readFileSync(join(refused, STATE_FILE))) as { vcpus: Array<{ msrs: Array<[number, string]> }> };
  state.vcpus[0]!.msrs.unshift([0xdeadbeef, '0']);
  writeFileSync(join(refused, STATE_FILE), encodeState(state));
  const api = join(SOCKET_DIR, 'refused.sock');
  const vmm = new VmmProcess(['vmm', '--api-sock', api]);
  try {
    for (const end = Date.now() + 120_000; !existsSync(api) && Date.now() < end; ) await sleep(200);
    r['refusedLoad'] = await vmmRequest(api, 'PUT', '/snapshot/load', { snapshot_path: refused, resume_vm: true }).then(
      () => 'accepted',
      (e: Error) => `${(e as { status?: number }).status ?? ''} ${e.message}`,
    );
    r['infoAfterRefused'] = await vmmRequest(api, 'GET', '/vm/info');
    await vmmRequest(api, 'PUT', '/snapshot/load', { snapshot_path: snap, resume_vm: true });
    const m = await vmm.waitFor(/TVG: count (\d+)\r?\n/, 60_000);
    await vmm.waitFor(new RegExp(`TVG: count ${Number(m[1]) + 2}\\b`), 60_000);
    r['loadAfterRefusedContinued'] = true;
  } catch (e) {
    r['loadAfterRefusedError'] = `${(e as Error).message}\nstderr: ${vmm.err.slice(-1500)}`;
  } finally {
    vmm.child.kill('SIGKILL');
    await vmm.exit;
  }
  return r;
}

/** Issue 3: disks (ext4 raw, qcow2 overlay, read-only), rng, net to a netns peer, vsock both ways, balloon. */
async function ioScenario(spec: LabSpec): Promise<Record<string, unknown>> {
  const r: Record<string, unknown> = {};
  // Network: tap -- bridge -- veth -- netns peer 10.99.0.1; all inside L1, torn down after.
  spawnSync('modprobe', ['-a', 'tun', 'bridge', 'veth']);
  sh(`ip tuntap add tvtap0 mode tap && ip link add tvbr0 type bridge && ip link set tvtap0 master tvbr0 &&
      ip link add tvveth0 type veth peer name tvveth1 && ip link set tvveth0 master tvbr0 &&
      ip netns add tvpeer && ip link set tvveth1 netns tvpeer &&
      ip netns exec tvpeer ip addr add 10.99.0.1/24 dev tvveth1 && ip netns exec tvpeer ip link set tvveth1 up &&
      ip netns exec tvpeer ip link set lo up && ip link set tvtap0 up && ip link set tvveth0 up && ip link set tvbr0 up`);
  const tcpCount = join(spec.workDir, 'tcp-bytes');
  rmSync(tcpCount, { force: true });
  const sink = spawn('ip', ['netns', 'exec', 'tvpeer', process.execPath, '-e',
    `const n=require('net');let b=0;const s=n.createServer(c=>{c.on('data',d=>b+=d.length);c.on('end',()=>{require('fs').writeFileSync(${JSON.stringify(tcpCount)},String(b));process.exit(0)})});s.listen(5001,'10.99.0.1')`], { stdio: 'ignore' });
  const uds = join(SOCKET_DIR, 'v.sock');
  rmSync(uds, { force: true });
  rmSync(`${uds}_6000`, { force: true });
  const g2h = createServer((c) => c.on('data', (d) => c.end(d)));
  await new Promise<void>((res) => g2h.listen(`${uds}_6000`, () => res()));
  const api = join(SOCKET_DIR, 'io.sock');
  step('io: starting the Debian guest');
  const vm = new VmmProcess([
    'run', '--kernel', spec.kernel, '--initrd', spec.ioInitrd, '--memory', '512', '--cpus', '2',
    '--cmdline', 'console=ttyS0 reboot=k panic=-1 quiet',
    '--disk', `${spec.images.ext4},readonly,serial=data-disk`,
    '--disk', `${spec.images.overlay},format=qcow2`,
    '--disk', `${spec.images.readonlyDisk},readonly`,
    '--net', 'tap=tvtap0,mac=52:54:00:12:34:56',
    '--vsock', `cid=7,uds=${uds}`, '--rng', '--balloon', '--api-sock', api,
  ]);
  try {
    await vm.waitForBoot(/TVIO: vsock-listening/);
    step('io: vsock');
    // Host -> guest: Firecracker's hybrid vsock handshake.
    const h2g = await vsockConnect(uds, 5000, 'ping-h2g', 60_000);
    h2g.socket.end();
    r['h2g'] = h2g.received;
    await vm.waitFor(/TVIO: balloon-wait/, 200_000);
    step('io: balloon');
    r['balloonSet'] = await vmmRequest(api, 'PUT', '/balloon', { amount_mib: 128 }).catch((e: Error) => e.message);
    await sleep(8000);
    r['balloonInfo'] = await vmmRequest(api, 'GET', '/balloon').catch((e: Error) => e.message);
    r['metrics'] = await vmmRequest(api, 'GET', '/vm/metrics').catch((e: Error) => e.message);
    vm.child.stdin!.write('\n');
    r['exitCode'] = await Promise.race([vm.exit, sleep(200_000).then(() => 'timeout')]);
  } catch (e) {
    r['error'] = (e as Error).message;
  } finally {
    vm.child.kill('SIGKILL');
    await vm.exit;
    sink.kill('SIGKILL');
    g2h.close();
    spawnSync('sh', ['-c', 'ip link del tvbr0; ip link del tvtap0; ip link del tvveth0; ip netns del tvpeer']);
  }
  r['stdout'] = vm.out;
  r['stderr'] = vm.err;
  r['tcpBytes'] = existsSync(tcpCount) ? Number(readFileSync(tcpCount, 'utf8')) : -1;
  return r;
}

/** A scenario: a name in the record, what it does, and whether it runs once more after a guest lab fault. */
export interface Scenario {
  readonly name: string;
  readonly run: () => Promise<Record<string, unknown>>;
  readonly retryOnLabFault: boolean;
}

/**
 * Runs `scenarios` in order (those in `only`, when given), writing the record to `outPath` after each. A record
 * already at `outPath` comes from an earlier L1 of this lab run that stopped (runInLab tries again in a fresh L1
 * after a lab fault): the scenarios it holds stand, and only the rest run now.
 */
export async function runScenarios(scenarios: readonly Scenario[], outPath: string, only?: readonly string[]): Promise<Record<string, Record<string, unknown>>> {
  const out = (existsSync(outPath) ? JSON.parse(readFileSync(outPath, 'utf8')) : {}) as Record<string, Record<string, unknown>>;
  for (const { name, run, retryOnLabFault } of scenarios) {
    if (only && !only.includes(name)) continue;
    if (out[name] !== undefined) {
      step(`${name}: finished in an earlier L1 of this run`);
      continue;
    }
    const t0 = performance.now();
    const attempt = async (): Promise<Record<string, unknown>> => {
      try {
        return await run();
      } catch (e) {
        return { error: (e as Error).stack };
      }
    };
    let record = await attempt();
    const fault = retryOnLabFault ? guestLabFault(record) : undefined;
    if (fault) {
      // Once, in the same L1: see guestLabFault. The first attempt stays in the record and the test reports it.
      step(`${name}: the guest died of a lab fault (${fault}); running the scenario once more`);
      const first = record;
      record = await attempt();
      record['labFault'] = { fault, error: first['error'], stderr: String(first['stderr'] ?? '').slice(-2000) };
    }
    record['durationMs'] = performance.now() - t0;
    out[name] = record;
    // Whole or not at all: a later L1 of this run reads it back.
    writeFileSync(`${outPath}.partial`, JSON.stringify(out, null, 2));
    renameSync(`${outPath}.partial`, outPath);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(readFileSync(specPath!, 'utf8')) as LabSpec;
  await runScenarios(
    [
      { name: 'snapshot', run: () => snapshotScenario(spec), retryOnLabFault: false },
      { name: 'io', run: () => ioScenario(spec), retryOnLabFault: true },
      { name: 'snapshotDebian', run: () => snapshotDebianScenario(spec.snapshotDebian), retryOnLabFault: true },
    ],
    outPath!,
    process.env['LAB_SCENARIOS']?.split(','),
  );
  // Leftover timers (scenario timeouts) must not keep L1 up.
  process.exit(0);
}
