/**
 * The qemu engine against real QEMU (TCG on hosts without hardware KVM): boot a
 * Debian kernel + busybox initramfs, use the console, pause/resume, reboot,
 * re-attach after a daemon restart and after a kill -9 of the daemon, power off
 * through ACPI, force a stop, and tell crashes from power-offs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningVm, VmLaunchSpec } from '../../src/platform/engines/engine.js';
import { detectHostFlavour } from '../../src/platform/engines/host-flavour.js';
import { QemuEngine } from '../../src/platform/engines/qemu/qemu-engine.js';
import { ConsoleCapture, createTap, makeRunDir, nextExit, nextState, processExists, quietLog, siblingScript } from './helpers.js';
import { GUEST_POWER_BUTTON, GUEST_READY, testGuest, type TestGuest } from './guest-fixture.js';

// Generous: on a loaded shared host a TCG boot took up to 30 s.
const BOOT_TIMEOUT_MS = 120_000;

function newEngine(): QemuEngine {
  return new QemuEngine({ log: quietLog, hostFlavour: detectHostFlavour });
}

async function launchSpec(guest: TestGuest, name: string): Promise<VmLaunchSpec> {
  return {
    id: name,
    name,
    vcpus: 1,
    memoryMiB: 192,
    boot: { kernel: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline },
    disks: [],
    nics: [],
    runDir: await makeRunDir(name),
  };
}

test('qemu engine is available and says how it accelerates', async () => {
  const availability = await newEngine().availability();
  assert.equal(availability.available, true, availability.reason);
  const flavour = await detectHostFlavour();
  assert.match(availability.reason, flavour.hardwareKvm ? /KVM acceleration/ : /TCG software emulation/);
});

test('lifecycle: console, typing, pause/resume, metrics, reboot, re-attach, ACPI power-off', async () => {
  const guest = await testGuest();
  const spec = await launchSpec(guest, 'life');
  // A raw disk the guest's virtio-blk driver reads (partition scan) and a NIC on a host tap.
  const disk = join(spec.runDir, 'disk.raw');
  await writeFile(disk, Buffer.alloc(1024 * 1024));
  const tap = `tve${process.pid % 100000}`;
  const removeTap = await createTap(tap);
  spec.disks.push({ path: disk, format: 'raw', readonly: false, serial: 'lifedisk' });
  spec.nics.push({ tap, mac: '52:54:00:7e:57:01' });
  const engine = newEngine();
  const started = Date.now();
  let vm: RunningVm | undefined;
  try {
    vm = await engine.start(spec);
    assert.equal(vm.engine, 'qemu');
    assert.equal(vm.state, 'running');
    const console1 = new ConsoleCapture(vm);
    let at = await console1.waitFor(GUEST_READY, BOOT_TIMEOUT_MS);
    process.stdout.write(`# boot to "${GUEST_READY}" in ${Date.now() - started} ms\n`);

    // Typing reaches the guest shell, which evaluates it (the tty echo alone would not compute 42).
    vm.writeConsole(Buffer.from('echo hello-$((6*7))\n'));
    at = await console1.waitFor('hello-42', 10_000, at);

    // Paused: the guest does not answer; resumed: it does.
    const paused = nextState(vm, 5000);
    await vm.pause();
    assert.equal(await paused, 'paused');
    assert.equal(vm.state, 'paused');
    vm.writeConsole(Buffer.from('echo resumed-$((1+1))\n'));
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(console1.text.slice(at).includes('resumed-2'), false, 'a paused guest answered');
    const resumed = nextState(vm, 5000);
    await vm.resume();
    assert.equal(await resumed, 'running');
    at = await console1.waitFor('resumed-2', 10_000, at);

    const first = await vm.sample();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await vm.sample();
    assert.ok(second.memoryBytes > 64 * 1024 * 1024, `RSS ${second.memoryBytes}`);
    assert.ok(second.cpuPercent >= 0 && second.cpuPercent < 400, `cpu ${second.cpuPercent}`);
    assert.ok(second.time > first.time);
    // Device counters: the guest's partition scan read the disk; its NIC sent IPv6 link-up frames.
    const counted = Date.now() + 30_000;
    let counters = second;
    while ((counters.diskReadBytes === 0 || counters.netTxBytes === 0) && Date.now() < counted) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      counters = await vm.sample();
    }
    assert.ok(counters.diskReadBytes > 0, `disk read bytes ${counters.diskReadBytes}`);
    assert.ok(counters.netTxBytes > 0, `guest tx bytes ${counters.netTxBytes}`);
    vm.writeConsole(Buffer.from('cat /sys/block/vda/serial\n'));
    at = await console1.waitFor('lifedisk', 10_000, at);

    // Reboot: the kernel boots again to a new "ready".
    await vm.reboot();
    at = await console1.waitFor(GUEST_READY, BOOT_TIMEOUT_MS, at);

    // Daemon restart: drop our connections, adopt the VM from new objects.
    const pid = vm.pid;
    vm.detach();
    assert.ok(await processExists(pid));
    const reattached = await newEngine().attach(spec);
    assert.ok(reattached, 'attach found no VM');
    assert.equal(reattached.pid, pid);
    assert.equal(reattached.state, 'running');
    const console2 = new ConsoleCapture(reattached);
    reattached.writeConsole(Buffer.from('echo again-$((2+3))\n'));
    await console2.waitFor('again-5', 10_000);
    await assert.rejects(engine.start(spec), /already running \(qemu pid/);

    // ACPI power button: the guest's handler powers off; QEMU exits; that is a poweroff.
    const exited = nextExit(reattached, 30_000);
    const shutdownStarted = Date.now();
    await reattached.shutdown(20_000);
    assert.deepEqual(await exited, { kind: 'poweroff' });
    assert.ok(Date.now() - shutdownStarted < 20_000, 'shutdown needed the forced path');
    await console2.waitFor(GUEST_POWER_BUTTON, 1000);
    assert.equal(await processExists(pid), false);
    assert.equal(await newEngine().attach(spec), null);
    // A daemon that was down at that moment can still tell a power-off from a crash.
    assert.deepEqual(await newEngine().goneReason(spec), { kind: 'poweroff' });
    const log = await readFile(join(spec.runDir, 'console.log'), 'latin1');
    assert.ok(log.includes('hello-42') && log.includes(GUEST_POWER_BUTTON), 'console.log misses output');
  } finally {
    await vm?.kill().catch(() => undefined);
    await removeTap();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('a VM outlives a kill -9 of its daemon; killing qemu afterwards is a crash', async () => {
  const guest = await testGuest();
  const spec = await launchSpec(guest, 'orphan');
  const daemonScript = siblingScript('daemon-child');
  const daemon = spawn(process.execPath, [...daemonScript.nodeArgs, daemonScript.path, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let qemuPid = 0;
  try {
    const [line] = (await once(daemon.stdout!, 'data')) as [Buffer];
    qemuPid = (JSON.parse(line.toString()) as { pid: number }).pid;
    daemon.kill('SIGKILL');
    await once(daemon, 'exit');
    assert.ok(await processExists(qemuPid), 'qemu died with its daemon');

    const vm = await newEngine().attach(spec);
    assert.ok(vm);
    assert.equal(vm.pid, qemuPid);
    const console1 = new ConsoleCapture(vm);
    // The shell may not be up yet, and input typed before it opens the tty is lost: retype.
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    for (;;) {
      vm.writeConsole(Buffer.from('echo alive-$((3*3))\n'));
      try {
        await console1.waitFor('alive-9', 2000);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }

    const exited = nextExit(vm, 10_000);
    process.kill(qemuPid, 'SIGKILL');
    const reason = await exited;
    assert.equal(reason.kind, 'crashed');
    assert.match(reason.kind === 'crashed' ? reason.message : '', new RegExp(`qemu process ${qemuPid} exited unexpectedly`));
    assert.equal(await newEngine().attach(spec), null);
    const gone = await newEngine().goneReason(spec);
    assert.equal(gone.kind, 'crashed');
    assert.match(gone.kind === 'crashed' ? gone.message : '', /^the qemu process of VM orphan ended while the daemon was not running \(last console line: "/);
  } finally {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    if (qemuPid > 0 && (await processExists(qemuPid))) process.kill(qemuPid, 'SIGKILL');
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('a killed child qemu is a crash that names the signal', async () => {
  const guest = await testGuest();
  const spec = await launchSpec(guest, 'crash');
  let vm: RunningVm | undefined;
  try {
    vm = await newEngine().start(spec);
    const exited = nextExit(vm, 10_000);
    process.kill(vm.pid, 'SIGKILL');
    assert.deepEqual(await exited, {
      kind: 'crashed',
      message: `qemu process ${vm.pid} exited unexpectedly (killed by signal SIGKILL)`,
    });
  } finally {
    await vm?.kill();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('a guest that ignores the power button is stopped after the timeout', async () => {
  const guest = await testGuest();
  const spec = await launchSpec(guest, 'stubborn');
  let vm: RunningVm | undefined;
  try {
    vm = await newEngine().start(spec);
    // Right after start the kernel is still booting: no button handler yet.
    const exited = nextExit(vm, 15_000);
    const began = Date.now();
    await vm.shutdown(300);
    assert.deepEqual(await exited, { kind: 'poweroff' });
    assert.ok(Date.now() - began < 8000);
    assert.equal(await processExists(vm.pid), false);
  } finally {
    await vm?.kill();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('start failures carry QEMU\'s own error', async () => {
  const guest = await testGuest();
  const spec = await launchSpec(guest, 'broken');
  try {
    await assert.rejects(
      newEngine().start({ ...spec, boot: { kernel: '/nonexistent/vmlinuz' } }),
      /qemu failed to start \(exit code 1\): .*vmlinuz/,
    );
    await assert.rejects(newEngine().start({ ...spec, vcpus: 0 }), /vcpus must be/);
    const missingBinary = new QemuEngine({ log: quietLog, hostFlavour: detectHostFlavour, binary: '/nonexistent/qemu' });
    assert.equal((await missingBinary.availability()).available, false);
    await assert.rejects(missingBinary.start(spec), /cannot start \/nonexistent\/qemu/);
  } finally {
    await rm(spec.runDir, { recursive: true, force: true });
  }
});
