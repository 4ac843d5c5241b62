import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { chooseDefaultEngine, createEngines, defaultEngine } from './index.js';
import type { HostFlavour } from './host-flavour.js';

const flavours: Record<string, HostFlavour> = {
  vmx: { kind: 'vmx', hardwareKvm: true, description: '/dev/kvm backed by VMX hardware virtualization (kvm_intel)' },
  pvm: { kind: 'pvm', hardwareKvm: false, description: 'PVM host: /dev/kvm comes from kvm_pvm, which cannot run a guest kernel' },
  none: { kind: 'no-kvm', hardwareKvm: false, description: 'no /dev/kvm on this host' },
};

test('hardware hosts default to typevisor, PVM and KVM-less hosts to QEMU with TCG', () => {
  assert.equal(chooseDefaultEngine(flavours.vmx!).name, 'typevisor');
  const pvm = chooseDefaultEngine(flavours.pvm!);
  assert.equal(pvm.name, 'qemu');
  assert.match(pvm.reason, /PVM.*QEMU with TCG/);
  assert.deepEqual(chooseDefaultEngine(flavours.none!), {
    name: 'qemu',
    reason: 'no /dev/kvm on this host: using QEMU with TCG software emulation',
  });
});

test('createEngines builds both engines; the default follows the given flavour', async () => {
  const engines = createEngines({ dataDir: '/tmp', log: pino({ level: 'silent' }), hostFlavour: async () => flavours.pvm! });
  assert.equal(engines.qemu.name, 'qemu');
  assert.equal(engines.typevisor.name, 'typevisor');
  const typevisor = await engines.typevisor.availability();
  assert.equal(typevisor.available, false);
  assert.match(typevisor.reason, /PVM/);
  assert.equal((await defaultEngine(async () => flavours.pvm!)).name, 'qemu');
});
