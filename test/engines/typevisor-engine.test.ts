/**
 * The typevisor engine: its availability on this host, and its side of the VMM
 * control-API contract, exercised against test/engines/fake-vmm.ts (the real
 * VMM needs VMX/SVM; the KVM lab runs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { RunningVm, VmLaunchSpec } from '../../src/platform/engines/engine.js';
import { detectHostFlavour, type HostFlavour } from '../../src/platform/engines/host-flavour.js';
import { TypevisorEngine } from '../../src/platform/engines/typevisor/typevisor-engine.js';
import { ConsoleCapture, makeRunDir, nextExit, nextState, processExists, quietLog, siblingScript } from './helpers.js';

const fakeVmm = siblingScript('fake-vmm');
const hardwareHost: HostFlavour = { kind: 'vmx', hardwareKvm: true, description: '/dev/kvm backed by VMX hardware virtualization (kvm_intel)' };

function fakeVmmEngine(): TypevisorEngine {
  return new TypevisorEngine({
    log: quietLog,
    hostFlavour: async () => hardwareHost,
    entryPoint: fakeVmm.path,
    nodeArgs: fakeVmm.nodeArgs,
  });
}

async function launchSpec(name: string): Promise<VmLaunchSpec> {
  return {
    id: name,
    name,
    vcpus: 2,
    memoryMiB: 256,
    boot: { kernel: '/boot/vmlinuz', initrd: '/boot/initrd.img', cmdline: 'console=ttyS0' },
    disks: [{ path: '/pool/root.qcow2', format: 'qcow2', readonly: false, serial: 'root' }],
    nics: [{ tap: 'tvtest0', mac: '52:54:00:12:34:56' }],
    runDir: await makeRunDir(name),
  };
}

test('without hardware virtualization the typevisor engine is unavailable and says why', async () => {
  const flavour = await detectHostFlavour();
  const engine = new TypevisorEngine({ log: quietLog, hostFlavour: detectHostFlavour });
  const availability = await engine.availability();
  if (flavour.hardwareKvm) {
    assert.match(availability.reason, /typevisor VMM on|entry point/);
    return;
  }
  assert.equal(availability.available, false);
  assert.match(availability.reason, /needs \/dev\/kvm with hardware virtualization \(VMX\/SVM\)/);
  const spec = await launchSpec('refused');
  try {
    await assert.rejects(engine.start(spec), /cannot start VM refused on the typevisor engine: .*VMX\/SVM/);
  } finally {
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('typevisor engine drives a VMM through the control API: configure, console, pause, re-attach, power-off', async () => {
  const spec = await launchSpec('contract');
  const engine = fakeVmmEngine();
  let vm: RunningVm | undefined;
  try {
    vm = await engine.start(spec);
    assert.equal(vm.engine, 'typevisor');
    assert.equal(vm.state, 'running');
    const console1 = new ConsoleCapture(vm);
    await console1.waitFor('fake guest booted: {"boot":{"kernel_image_path":"/boot/vmlinuz","initrd_path":"/boot/initrd.img","boot_args":"console=ttyS0"},"drives":["d0"],"nets":["n0"]}', 10_000);
    vm.writeConsole(Buffer.from('ls\n'));
    await console1.waitFor('echo:ls', 5000);

    const paused = nextState(vm, 5000);
    await vm.pause();
    assert.equal(await paused, 'paused');
    const sample = await vm.sample();
    assert.equal(sample.diskReadBytes, 4096);
    assert.equal(sample.diskWriteBytes, 512);
    assert.ok(sample.memoryBytes > 0);

    vm.detach();
    await assert.rejects(vm.reboot(), /detached/);
    const again = await fakeVmmEngine().attach(spec);
    assert.ok(again);
    assert.equal(again.pid, vm.pid);
    assert.equal(again.state, 'paused');
    await again.resume();
    assert.equal(again.state, 'running');
    await assert.rejects(engine.start(spec), /already running \(typevisor VMM pid/);
    const console2 = new ConsoleCapture(again);
    await again.reboot();
    await console2.waitFor('fake guest: reset', 5000);

    const exited = nextExit(again, 10_000);
    await again.shutdown(5000);
    assert.deepEqual(await exited, { kind: 'poweroff' });
    assert.equal(await processExists(vm.pid), false);
    assert.equal(await fakeVmmEngine().attach(spec), null);
    assert.deepEqual(await fakeVmmEngine().goneReason(spec), { kind: 'poweroff' });
  } finally {
    await vm?.kill();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('a VMM killed behind the engine\'s back is a crash', async () => {
  const spec = await launchSpec('killed');
  let vm: RunningVm | undefined;
  try {
    vm = await fakeVmmEngine().start(spec);
    const exited = nextExit(vm, 10_000);
    process.kill(vm.pid, 'SIGKILL');
    const reason = await exited;
    assert.equal(reason.kind, 'crashed');
    assert.match(reason.kind === 'crashed' ? reason.message : '', new RegExp(`typevisor VMM process ${vm.pid} exited unexpectedly \\(killed by signal SIGKILL\\)`));
    const gone = await fakeVmmEngine().goneReason(spec);
    assert.deepEqual(gone, { kind: 'crashed', message: 'the typevisor VMM of VM killed ended while the daemon was not running (it left no exit record)' });
  } finally {
    await vm?.kill();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('the typevisor engine refuses disk-only boots and reports VMM start failures', async () => {
  const spec = await launchSpec('bad');
  try {
    await assert.rejects(fakeVmmEngine().start({ ...spec, boot: undefined }), /boots a kernel directly/);
    const broken = new TypevisorEngine({
      log: quietLog,
      hostFlavour: async () => hardwareHost,
      entryPoint: fakeVmm.path,
      nodeArgs: [...fakeVmm.nodeArgs, '--eval', 'process.stderr.write("vmm: no such device /dev/kvm\\n"); process.exit(3)'],
    });
    await assert.rejects(broken.start(spec), /typevisor VMM failed to start \(exit code 3\): vmm: no such device \/dev\/kvm/);
  } finally {
    await rm(spec.runDir, { recursive: true, force: true });
  }
});

test('when the power button request fails, shutdown forces the stop at once', async () => {
  const spec = await launchSpec('nobutton');
  let vm: RunningVm | undefined;
  try {
    vm = await fakeVmmEngine().start(spec);
    const exited = nextExit(vm, 15_000);
    const began = Date.now();
    await vm.shutdown(60_000);
    assert.deepEqual(await exited, { kind: 'poweroff' });
    assert.ok(Date.now() - began < 10_000, `shutdown took ${Date.now() - began} ms`);
  } finally {
    await vm?.kill();
    await rm(spec.runDir, { recursive: true, force: true });
  }
});
