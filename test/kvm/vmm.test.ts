/**
 * Tier 2 (the tiny test guest) and tier 3 (stock Debian kernels) of
 * ARCHITECTURE.md "Testing a hypervisor on these machines", for issue 2.
 *
 * The scenarios run where real KVM is: on this host's /dev/kvm when it is
 * VMX/SVM (tier 2 also on PVM), otherwise inside the KVM lab's L1 in one
 * batch (one L1 boot). Each scenario is a real `typevisor run`; assertions
 * read what the guest printed and how the VMM exited.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestGuest } from '../guest/build.js';
import { buildInitramfs, ensureKernels } from '../../src/lab/artifacts.js';
import { runInLab } from '../../src/lab/lab.js';
import { detectHostFlavour } from '../../src/platform/engines/host-flavour.js';
import { repoRoot } from '../helpers/repo.js';
import type { Scenario, ScenarioResult } from './scenarios.js';
import { runScenarios } from './scenarios.js';

/** The init of the Linux guests: report, then act on tvl.mode= from the command line. */
const LINUX_INIT = `
echo "TVL: booted"
echo "TVL: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "TVL: $(grep MemTotal /proc/meminfo | tr -s ' ')"
case "$(cat /proc/cmdline)" in
  *tvl.mode=reboot*) echo "TVL: rebooting"; reboot -f ;;
  *tvl.mode=panic*) echo "TVL: panicking"; echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
  *tvl.mode=cad*) echo "TVL: waiting for ctrl-alt-del"; sleep 200; echo "TVL: no ctrl-alt-del came" ;;
esac
echo "TVL: type something"
read -r line
echo "TVL: got [$line]"
poweroff -f
`;

const LINUX_CMDLINE = 'console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd quiet';

let results = new Map<string, ScenarioResult>();
let where = '';

function result(name: string): ScenarioResult {
  const r = results.get(name);
  assert.ok(r, `scenario ${name} did not run`);
  return r;
}

function show(r: ScenarioResult): string {
  return `exit ${r.status} (${r.signal ?? 'no signal'})${r.timedOut ? ' TIMED OUT' : ''} after ${Math.round(r.durationMs)} ms\n--- stdout ---\n${r.stdout.slice(-3000)}\n--- stderr ---\n${r.stderr.slice(-2000)}`;
}

describe(`typevisor run on real KVM`, { timeout: 1_500_000 }, () => {
  before(async () => {
    const flavour = await detectHostFlavour();
    const guest = await buildTestGuest();
    const kernels = await ensureKernels();
    const initrd = await buildInitramfs({ initSnippet: LINUX_INIT });
    const tg = (name: string, extra: string[], cmdline: string, more: Partial<Scenario> = {}): Scenario => ({
      name,
      args: ['--kernel', guest, '--cmdline', cmdline, ...extra],
      timeoutMs: 60_000,
      ...more,
    });
    const tier2: Scenario[] = [
      tg('tg-basic', ['--cpus', '1', '--memory', '128'], 'tvg.test=poweroff hello=world'),
      tg('tg-smp', ['--cpus', '4', '--memory', '256'], 'tvg.test=poweroff'),
      tg('tg-highmem', ['--cpus', '2', '--memory', '4096'], 'tvg.test=poweroff'),
      tg('tg-reset', ['--memory', '64'], 'tvg.test=reset'),
      tg('tg-acpi-reset', ['--memory', '64'], 'tvg.test=acpi-reset'),
      tg('tg-echo', ['--memory', '64'], 'tvg.test=echo', { input: 'q', inputAfter: 'TVG: test echo' }),
    ];
    const lx = (name: string, kernel: string, extra: string[], mode: string, more: Partial<Scenario> = {}): Scenario => ({
      name,
      args: ['--kernel', kernel, '--initrd', initrd, '--cmdline', `${LINUX_CMDLINE} ${mode}`, ...extra],
      timeoutMs: 240_000,
      ...more,
    });
    const tier3: Scenario[] = [
      lx('lx-bzimage', kernels.cloud.bzImage, ['--cpus', '2', '--memory', '512'], 'tvl.mode=shell', {
        input: 'hello-from-host\n',
        inputAfter: 'TVL: type something',
      }),
      lx('lx-reboot', kernels.cloud.bzImage, ['--memory', '256'], 'tvl.mode=reboot'),
      lx('lx-vmlinux', kernels.cloud.vmlinux, ['--cpus', '1', '--memory', '384'], 'tvl.mode=shell', {
        input: 'elf\n',
        inputAfter: 'TVL: type something',
      }),
      lx('lx-panic', kernels.cloud.bzImage, ['--memory', '256'], 'tvl.mode=panic'),
      lx('lx-ctrl-alt-del', kernels.cloud.bzImage, ['--memory', '256'], 'tvl.mode=cad', {
        action: { after: 'TVL: waiting for ctrl-alt-del', actionType: 'SendCtrlAltDel' },
      }),
    ];
    const runHere = flavour.hardwareKvm;
    const list = runHere || flavour.kind !== 'pvm' ? [...tier2, ...tier3] : tier2;
    if (runHere) {
      where = `this host (${flavour.kind})`;
      results = new Map((await runScenarios(list)).map((r) => [r.name, r]));
      return;
    }
    where = 'the KVM lab';
    const dir = join(repoRoot(), '.cache/lab/kvm-tests');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'scenarios.json'), JSON.stringify(list));
    const lab = await runInLab({
      script: `node dist/test/kvm/scenarios.js ${join(dir, 'scenarios.json')} "$LAB_RESULTS/results.json"`,
      timeoutMs: 420_000, // under the suite's 600 s per file: a hang ends with the lab's output
      memoryMiB: 6144,
    });
    assert.equal(lab.exitCode, 0, `the scenario runner failed inside L1:\n${lab.output}`);
    const out = JSON.parse(readFileSync(join(lab.resultsDir, 'results.json'), 'utf8')) as ScenarioResult[];
    results = new Map(out.map((r) => [r.name, r]));
    process.stderr.write(`kvm tests: L1 up in ${lab.l1BootMs} ms, lab total ${lab.totalMs} ms\n`);
    for (const r of out) {
      if (r.labFault) process.stderr.write(`kvm tests: ${r.name}'s first guest died of a lab fault (${r.labFault.fault}) and ran again:\n${r.labFault.stderr}\n`);
    }
  });

  test('test guest: serial, command line, e820 and ACPI power-off', () => {
    const r = result('tg-basic');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /TVG: hello/, show(r));
    assert.match(r.stdout, /TVG: cmdline .*tvg\.test=poweroff hello=world/);
    assert.match(r.stdout, /TVG: e820 0 9fc00 1/);
    const mib = Number(/TVG: ram-mib (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(mib >= 126 && mib <= 128, `ram-mib ${mib} for --memory 128 (${where})`);
    assert.match(r.stdout, /TVG: cpus 1\b/);
  });

  test('test guest: --cpus 4 brings up 4 CPUs through INIT-SIPI-SIPI', () => {
    const r = result('tg-smp');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /madt-cpus 4/, show(r));
    assert.match(r.stdout, /TVG: cpus 4\b/, show(r));
  });

  test('test guest: memory above 3 GiB is placed above the 4 GiB hole', () => {
    const r = result('tg-highmem');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /TVG: e820 100000000 40000000 1/, show(r));
    const mib = Number(/TVG: ram-mib (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(mib >= 4094 && mib <= 4096, `ram-mib ${mib} for --memory 4096`);
  });

  test('test guest: i8042 and ACPI reset end the VMM with 0', () => {
    for (const name of ['tg-reset', 'tg-acpi-reset']) {
      const r = result(name);
      assert.equal(r.status, 0, show(r));
      assert.match(r.stderr, /guest reset/, show(r));
    }
  });

  test('test guest: serial input reaches the guest', () => {
    const r = result('tg-echo');
    assert.match(r.stdout, /TVG: got q/, show(r));
    assert.equal(r.status, 0, `"q" powers the echo guest off\n${show(r)}`);
  });

  test('Debian cloud bzImage boots to userspace with 2 CPUs and 512 MiB; typing reaches the shell', { skip: false }, () => {
    const r = result('lx-bzimage');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /TVL: cpus 2/, show(r));
    const kb = Number(/TVL: MemTotal: (\d+) kB/.exec(r.stdout)?.[1]);
    assert.ok(kb > 400_000 && kb <= 512 * 1024, `MemTotal ${kb} kB for --memory 512`);
    assert.match(r.stdout, /TVL: got \[hello-from-host\]/, show(r));
  });

  test('reboot -f ends typevisor run with 0', () => {
    const r = result('lx-reboot');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /TVL: rebooting/, show(r));
  });

  test('an ELF vmlinux boots too', () => {
    const r = result('lx-vmlinux');
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /TVL: got \[elf\]/, show(r));
  });

  test('SendCtrlAltDel through the control API: the guest keyboard driver reboots the guest, the VMM exits 0', () => {
    const r = result('lx-ctrl-alt-del');
    assert.match(r.actionResult ?? '', /^204\b/, `action answered ${r.actionResult}\n${show(r)}`);
    assert.equal(r.status, 0, show(r));
    assert.doesNotMatch(r.stdout, /no ctrl-alt-del came/, show(r));
    assert.match(r.stderr, /guest reset/, show(r));
  });

  test('a guest panic with panic=-1 ends the VMM and says so', () => {
    const r = result('lx-panic');
    assert.equal(r.status, 3, show(r));
    assert.match(r.stderr, /guest kernel panic/i, show(r));
  });
});
