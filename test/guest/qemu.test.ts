/**
 * Boots the test guest under QEMU TCG through its PVH entry, to prove the guest itself is right before it is
 * used against our VMM (where a failure could be either side's fault). Each run takes about a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestGuest } from './build.js';
import { assertVirtioReport, assertVirtioTestDisk, createVirtioTestDisk, describeVirtioReport, parseVirtioReport } from './virtio-report.js';

const QEMU = 'qemu-system-x86_64';
const qemuMissing = spawnSync(QEMU, ['--version']).status !== 0;
const RUN_TIMEOUT_MS = 20_000;

interface Run {
  /** "TVG: ..." lines, without the prefix. */
  lines: string[];
  /** QEMU's exit code, or null when the test stopped it. */
  exitCode: number | null;
  elapsedMs: number;
}

/**
 * Boots the guest with `tvg.test=<name>`. Resolves when QEMU exits, or when `until` matches a line (then QEMU is
 * killed). `onLine` may write to the guest's COM1 through the returned stdin.
 */
async function boot(
  name: string,
  options: {
    smp?: number;
    append?: string;
    /** More QEMU arguments (devices). */
    qemuArgs?: string[];
    until?: (line: string) => boolean;
    onLine?: (line: string, input: NodeJS.WritableStream) => void;
  } = {},
): Promise<Run> {
  const elf = await buildTestGuest();
  const args = ['-M', 'q35', '-cpu', 'max', '-smp', String(options.smp ?? 4), '-m', '256', '-nographic', '-no-reboot'];
  args.push('-net', 'none', '-kernel', elf, '-append', `${options.append ?? ''}tvg.test=${name}`, ...(options.qemuArgs ?? []));
  const started = Date.now();
  const child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffered = '';
  let stopped = false;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`QEMU run "${name}" timed out; guest said:\n${lines.join('\n')}`));
    }, RUN_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const raw = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        const at = raw.indexOf('TVG: ');
        if (at < 0) continue;
        const line = raw.slice(at + 5);
        lines.push(line);
        options.onLine?.(line, child.stdin);
        if (!stopped && options.until?.(line)) {
          stopped = true;
          child.kill('SIGTERM');
        }
      }
    });
    child.on('error', reject);
    // 'close', not 'exit': QEMU can exit before its last console lines have been read from the pipe.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ lines, exitCode: stopped ? null : code, elapsedMs: Date.now() - started });
    });
  });
}

function assertCommonReport(run: Run, name: string, entry = 'pvh', cmdline = `tvg.test=${name}`): void {
  assert.equal(run.lines[0], 'hello');
  assert.ok(run.lines.includes(`entry ${entry}`));
  assert.ok(run.lines.includes(`cmdline ${cmdline}`), 'command line from hvm_start_info / boot_params');
  const e820 = run.lines.filter((l) => l.startsWith('e820 '));
  assert.ok(e820.some((l) => /^e820 100000 [0-9a-f]+ 1$/.test(l)), 'usable RAM from 1 MiB');
  assert.ok(e820.includes('e820 0 9fc00 1'), 'low RAM below the EBDA');
  const ram = run.lines.find((l) => l.startsWith('ram-mib '));
  const mib = Number(ram?.split(' ')[1]);
  assert.ok(mib >= 250 && mib <= 256, `ram-mib ${mib} for -m 256`);
  assert.match(run.lines.find((l) => l.startsWith('acpi ')) ?? '', /^acpi rsdp 0x[0-9a-f]+ madt-cpus \d+ pm1a-cnt 0x[1-9a-f][0-9a-f]* /);
  assert.ok(run.lines.includes(`test ${name}`));
  assert.deepEqual(run.lines.filter((l) => l.startsWith('error') || l.startsWith('exception')), []);
}

test('poweroff: reports memory, ACPI and 4 CPUs, then powers QEMU off via the FADT PM1a_CNT and \\_S5', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('poweroff');
  assertCommonReport(run, 'poweroff');
  assert.ok(run.lines.includes('cpus 4'), `cpus line: ${run.lines.find((l) => l.startsWith('cpus'))}`);
  assert.equal(run.exitCode, 0, 'QEMU exited by itself');
  assert.ok(!run.lines.includes('done'), 'poweroff never returns');
  assert.ok(run.lines.includes('cpuid vendor AuthenticAMD hypervisor TCGTCGTCGTCG'), 'CPUID vendor and hypervisor leaf');
  assert.match(run.lines.find((l) => l.startsWith('tsc-khz')) ?? '', /^tsc-khz [1-9]\d{5,}$/, 'TSC calibrated against the PM timer');
  assert.ok(run.lines.includes('pci 00:00.0 8086:29c0 class 060000'), 'q35 host bridge found on bus 0');
  assert.ok(run.lines.includes('pci 00:1f.2 8086:2922 class 010601'), 'multifunction device 1f scanned');
  const functions = run.lines.filter((l) => l.startsWith('pci 00:')).length;
  assert.ok(run.lines.includes(`pci-functions ${functions}`));
});

test('the 64-bit boot_params entry (as our VMM enters) reports the same, APs included', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('poweroff', { append: 'tvg.entry=linux64 ' });
  assert.deepEqual(run.lines.slice(0, 3), ['hello', 'reentering via the 64-bit boot_params entry', 'hello']);
  assertCommonReport(run, 'poweroff', 'linux64', 'tvg.entry=linux64 tvg.test=poweroff');
  assert.ok(run.lines.includes('cpus 4'));
  assert.equal(run.exitCode, 0);
});

test('ud2: a guest exception is reported with its vector', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('ud2', { smp: 1, until: (l) => l.startsWith('exception') });
  assert.match(run.lines.at(-1) ?? '', /^exception 6 rip 0x10[0-9a-f]{4} error 0x0$/);
});

test('one CPU: no APs to start', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('poweroff', { smp: 1 });
  assert.ok(run.lines.includes('cpus 1'));
  assert.equal(run.exitCode, 0);
});

for (const name of ['reset', 'acpi-reset']) {
  test(`${name}: the machine resets (QEMU -no-reboot exits)`, { skip: qemuMissing, timeout: 60_000 }, async () => {
    const run = await boot(name);
    assertCommonReport(run, name);
    assert.equal(run.exitCode, 0);
    assert.ok(!run.lines.includes('done'));
  });
}

test('halt: prints done and stays halted', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('halt', { until: (l) => l === 'done' });
  assertCommonReport(run, 'halt');
  assert.equal(run.lines.at(-1), 'done');
});

test('count: an increasing counter about every 100 ms', { skip: qemuMissing, timeout: 60_000 }, async () => {
  let firstCountAt = 0;
  const run = await boot('count', {
    onLine: (l) => {
      if (l === 'count 0') firstCountAt = Date.now();
    },
    until: (l) => l === 'count 5',
  });
  const counts = run.lines.filter((l) => l.startsWith('count ')).map((l) => Number(l.split(' ')[1]));
  assert.deepEqual(counts.slice(0, 6), [0, 1, 2, 3, 4, 5]);
  const elapsed = Date.now() - firstCountAt;
  assert.ok(elapsed >= 400, `5 periods took ${elapsed} ms`);
});

test('echo: bytes typed on COM1 come back as "got" lines', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('echo', {
    onLine: (l, input) => {
      if (l === 'echo ready') input.write('hi!');
    },
    until: (l) => l === 'got !',
  });
  assertCommonReport(run, 'echo');
  assert.deepEqual(
    run.lines.filter((l) => l.startsWith('got ')),
    ['got h', 'got i', 'got !'],
  );
});

test('memtest: every usable page below 4 GiB holds its own value', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const run = await boot('memtest', { smp: 1, until: (l) => l === 'done' });
  const m = /^memtest pages (\d+) errors (\d+)$/.exec(run.lines.find((l) => l.startsWith('memtest pages')) ?? '');
  assert.ok(m, run.lines.join('\n'));
  assert.ok(Number(m[1]) > 64_000, `${m[1]} pages for 256 MiB`);
  assert.equal(Number(m[2]), 0);
});

test('virtio: finds modern virtio-blk and virtio-net, reads/writes sectors and gets an ARP reply, MSI-X interrupts counted', { skip: qemuMissing, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvg-virtio-'));
  try {
    const disk = join(dir, 'disk.raw');
    const marker = createVirtioTestDisk(disk);
    const mac = '52:54:00:12:34:56';
    const run = await boot('virtio', {
      smp: 1,
      qemuArgs: [
        '-drive', `if=none,id=disk0,file=${disk},format=raw`,
        '-device', 'virtio-blk-pci,drive=disk0,disable-legacy=on',
        '-netdev', 'user,id=net0',
        '-device', `virtio-net-pci,netdev=net0,disable-legacy=on,mac=${mac}`,
      ],
    });
    const report = parseVirtioReport(run.lines.join('\n'));
    process.stderr.write(`QEMU TCG: ${describeVirtioReport(report)}\n`);
    // QEMU's user-mode network answers ARP for 10.0.2.2 with this MAC (slirp's 52:55 + the IPv4 address).
    assertVirtioReport(report, { marker, diskBytes: 1024 * 1024, mac, peerMac: '52:55:0a:00:02:02' }, run.lines.join('\n'));
    assert.equal(run.exitCode, 0, 'the guest powers off after the test');
    assertVirtioTestDisk(disk, marker);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
