/**
 * Issue 3, tier 2: on real KVM, the freestanding test guest (`tvg.test=virtio`, test/guest/virtio-test.c) finds
 * typevisor's virtio-blk and virtio-net by PCI enumeration, initialises them (virtio 1.2 §3.1.1), routes their
 * queues to MSI-X vectors, reads and writes sectors and exchanges an ARP request/reply through a tap, counting the
 * interrupts of every queue. The same guest mode is proven under QEMU TCG in test/guest/qemu.test.ts.
 *
 * The run happens on this host's /dev/kvm when it is VMX/SVM, otherwise inside the KVM lab's L1. Either way the
 * tap lives in a fresh network namespace holding the peer address 10.0.2.2, so the kernel answers the guest's ARP
 * request and nothing on the host network is touched. After the VMM exits, the disk image is checked here.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestGuest } from '../guest/build.js';
import {
  VirtioTestGuest,
  assertVirtioReport,
  assertVirtioTestDisk,
  createVirtioTestDisk,
  describeVirtioReport,
  parseVirtioReport,
  type VirtioReport,
} from '../guest/virtio-report.js';
import { ensureKernels } from '../../src/lab/artifacts.js';
import { runInLab } from '../../src/lab/lab.js';
import { detectHostFlavour } from '../../src/platform/engines/host-flavour.js';
import { repoRoot } from '../helpers/repo.js';
import type { Scenario, ScenarioResult } from './scenarios.js';

const TAP = 'tvgtap0';
const NETNS = 'tvg-virtio';
const GUEST_MAC = '52:54:00:7e:76:01';
const DISK_BYTES = 2 * 1024 * 1024;
/** Lab runs are serialized across the machine's worktrees: on a busy machine the wait dwarfs the run (~3 min). */
const LAB_QUEUE_MS = 60 * 60_000;
const LAB_RUN_MS = 15 * 60_000;

/**
 * Runs the scenario inside a new network namespace with the tap (IPv6 off there, so the only frames the guest
 * receives answer it), records the tap's MAC, and removes the namespace (and with it the tap) afterwards.
 */
function netnsScript(work: string, l1Modules: string): string {
  const inside = [
    'set -ex',
    'for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do [ -w $f ] && echo 1 > $f || true; done',
    `ip tuntap add dev ${TAP} mode tap`,
    `ip addr add ${VirtioTestGuest.PEER_IP}/24 dev ${TAP}`,
    `ip link set ${TAP} up`,
    `cat /sys/class/net/${TAP}/address > ${work}/tap-mac`,
    `node dist/test/kvm/scenarios.js ${work}/scenarios.json ${work}/results.json`,
  ].join('\n');
  return [
    'set -x', // the trace reaches the lab's output.log as it happens
    // L1's init binds its kernel's modules to /lib/modules only when it can follow the path, which it cannot
    // through a worktree's .cache symlink: bind them here (the script runs inside the shared root).
    `[ -d /lib/modules/$(uname -r) ] || { mkdir -p /lib/modules/$(uname -r) && mount --bind ${l1Modules} /lib/modules/$(uname -r); }`,
    'modprobe tun',
    `ip netns del ${NETNS} 2>/dev/null`,
    `ip netns add ${NETNS} || exit 1`,
    `ip netns exec ${NETNS} sh -c '${inside}'`,
    'status=$?',
    `ip netns del ${NETNS}`,
    'exit $status',
  ].join('\n');
}

let work = '';
let marker: Buffer;
let result: ScenarioResult;
let report: VirtioReport;
let tapMac = '';
let where = '';

function show(r: ScenarioResult): string {
  return `exit ${r.status} (${r.signal ?? 'no signal'})${r.timedOut ? ' TIMED OUT' : ''} after ${Math.round(r.durationMs)} ms (${where})\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-2000)}`;
}

describe('the test guest drives virtio-blk and virtio-net with MSI-X on real KVM', { timeout: LAB_QUEUE_MS + LAB_RUN_MS + 5 * 60_000 }, () => {
  before(async () => {
    const flavour = await detectHostFlavour();
    work = join(realpathSync(join(repoRoot(), '.cache')), 'lab', 'test-guest-virtio');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    // A private copy: the shared build cache keeps one guest version and prunes the others.
    const guest = join(work, 'guest.elf');
    copyFileSync(await buildTestGuest(), guest);
    const disk = join(work, 'disk.raw');
    marker = createVirtioTestDisk(disk, DISK_BYTES);
    const scenario: Scenario = {
      name: 'tg-virtio',
      args: ['--kernel', guest, '--cpus', '1', '--memory', '64', '--disk', disk, '--net', `tap=${TAP},mac=${GUEST_MAC}`, '--cmdline', 'tvg.test=virtio'],
      timeoutMs: 180_000,
    };
    writeFileSync(join(work, 'scenarios.json'), JSON.stringify([scenario]));
    if (flavour.hardwareKvm) {
      where = `this host (${flavour.kind})`;
      const run = spawnSync('sh', ['-c', netnsScript(work, '/lib/modules/$(uname -r)')], { cwd: repoRoot(), encoding: 'utf8', timeout: 300_000 });
      assert.equal(run.status, 0, `the scenario failed here:\n${run.stdout}\n${run.stderr}`);
    } else {
      where = 'the KVM lab';
      // Results under the real .cache path: in a worktree .cache is a symlink, which L1's init cannot follow
      // before it switches to the shared root.
      const runs = join(realpathSync(join(repoRoot(), '.cache')), 'lab', 'runs');
      mkdirSync(runs, { recursive: true });
      const resultsDir = mkdtempSync(join(runs, 'test-guest-virtio-'));
      const script = netnsScript(work, realpathSync((await ensureKernels()).generic.modulesDir));
      const lab = await runInLab({ script, timeoutMs: LAB_RUN_MS, queueTimeoutMs: LAB_QUEUE_MS, memoryMiB: 2048, shareWritable: [work], resultsDir });
      assert.equal(lab.exitCode, 0, `the scenario failed inside L1:\n${lab.output.slice(-4000)}`);
      process.stderr.write(`test guest virtio: L1 up in ${lab.l1BootMs} ms, lab total ${lab.totalMs} ms (queued ${lab.queuedMs} ms)\n`);
    }
    assert.ok(existsSync(join(work, 'results.json')), 'the scenario runner wrote no results');
    result = (JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as ScenarioResult[])[0]!;
    tapMac = readFileSync(join(work, 'tap-mac'), 'utf8').trim();
    report = parseVirtioReport(result.stdout);
    process.stderr.write(`test guest virtio on ${where}: ${describeVirtioReport(report)}; VMM ran ${Math.round(result.durationMs)} ms\n`);
  });

  test('the guest powers off after the test and the VMM exits with 0', () => {
    assert.equal(result.timedOut, false, show(result));
    assert.equal(result.status, 0, show(result));
    assert.match(result.stdout, /TVG: test virtio/, show(result));
  });

  test('PCI enumeration finds both modern devices with their capabilities and MSI-X tables', () => {
    assert.match(result.stdout, /TVG: pci 00:[0-9a-f]{2}\.\d 1af4:1042 class 010000/, show(result));
    assert.match(result.stdout, /TVG: pci 00:[0-9a-f]{2}\.\d 1af4:1041 class 020000/, show(result));
    for (const name of ['virtio-blk', 'virtio-net']) {
      assert.match(result.stdout, new RegExp(`TVG: ${name} pci .* common 0x[0-9a-f]+ notify 0x[0-9a-f]+ x4 isr 0x[0-9a-f]+ device 0x[0-9a-f]+ msix-table 0x[0-9a-f]+ entries [1-9]`), show(result));
    }
  });

  test('blk and net: data, ARP reply from the tap, and an interrupt per completion', () => {
    assertVirtioReport(report, { marker, diskBytes: DISK_BYTES, mac: GUEST_MAC, peerMac: tapMac }, show(result));
  });

  test('the bytes the guest wrote are in the disk image on the host', () => {
    assertVirtioTestDisk(join(work, 'disk.raw'), marker);
  });
});
