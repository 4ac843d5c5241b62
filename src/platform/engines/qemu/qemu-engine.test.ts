import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { VmLaunchSpec } from '../engine.js';
import type { HostFlavour } from '../host-flavour.js';
import { QemuEngine } from './qemu-engine.js';

const tcgHost: HostFlavour = { kind: 'no-kvm', hardwareKvm: false, description: 'no /dev/kvm on this host' };
const kvmHost: HostFlavour = { kind: 'svm', hardwareKvm: true, description: '/dev/kvm backed by SVM hardware virtualization (kvm_amd)' };

function engine(flavour: HostFlavour): QemuEngine {
  return new QemuEngine({ log: pino({ level: 'silent' }), hostFlavour: async () => flavour });
}

async function withRunDir(body: (spec: VmLaunchSpec) => Promise<void>): Promise<void> {
  const runDir = await mkdtemp(join(tmpdir(), 'tve-unit-'));
  try {
    await body({ id: 'u', name: 'unit', vcpus: 1, memoryMiB: 64, boot: { kernel: '/k' }, disks: [], nics: [], runDir });
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

test('the accelerator follows the host flavour', async () => {
  assert.equal(await engine(tcgHost).accelerator(), 'tcg');
  assert.equal(await engine(kvmHost).accelerator(), 'kvm');
});

test('attach ignores a missing, garbled or reused pid file', async () => {
  await withRunDir(async (spec) => {
    const qemu = engine(tcgHost);
    assert.equal(await qemu.attach(spec), null);
    await writeFile(join(spec.runDir, 'qemu.pid'), 'not a pid\n');
    assert.equal(await qemu.attach(spec), null);
    // A live process that is not our QEMU (the pid was reused): never adopted.
    await writeFile(join(spec.runDir, 'qemu.pid'), `${process.pid}\n`);
    assert.equal(await qemu.attach(spec), null);
  });
});

test('goneReason reads a power-off from the console log, else reports a crash with what is known', async () => {
  await withRunDir(async (spec) => {
    const qemu = engine(tcgHost);
    assert.deepEqual(await qemu.goneReason(spec), {
      kind: 'crashed',
      message: 'the qemu process of VM unit ended while the daemon was not running',
    });
    await writeFile(join(spec.runDir, 'console.log'), 'booting\r\nKernel panic - not syncing: VFS\r\n');
    await writeFile(join(spec.runDir, 'qemu.stderr'), 'qemu-system-x86_64: terminating on signal 15 from pid 77\n');
    assert.deepEqual(await qemu.goneReason(spec), {
      kind: 'crashed',
      message:
        'the qemu process of VM unit ended while the daemon was not running (qemu said: qemu-system-x86_64: terminating on signal 15 from pid 77; last console line: "Kernel panic - not syncing: VFS")',
    });
    await writeFile(join(spec.runDir, 'console.log'), `${'x'.repeat(10_000)}\r\n/ # poweroff -f\r\n[   12.3] reboot: Power down\r\n`);
    assert.deepEqual(await qemu.goneReason(spec), { kind: 'poweroff' });
  });
});
