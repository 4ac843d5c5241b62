import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceStatus, VirtioFeatureBit, featureBit, VIRTIO_MSI_NO_VECTOR } from '../constants.js';
import { VirtqDescFlags } from '../queue/layout.js';
import { VirtioRng } from '../rng/rng.js';
import { CommonCfg, VirtioPciCapType } from './layout.js';
import { VirtioPciTestDriver } from './test-driver.js';
import { PciHeader } from '../../pci/layout.js';

const OK = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK;

function rng(): VirtioRng {
  return new VirtioRng({ entropy: (b) => b.fill(0xab) });
}

test('identity and capabilities: modern virtio-pci ids and all four structures in BAR0', () => {
  const d = new VirtioPciTestDriver(rng());
  assert.equal(d.configRead(PciHeader.VENDOR_ID, 2), 0x1af4);
  assert.equal(d.configRead(PciHeader.DEVICE_ID, 2), 0x1044);
  assert.equal(d.configRead(PciHeader.REVISION_ID, 1), 1);
  assert.equal(d.configRead(PciHeader.SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
  for (const t of [VirtioPciCapType.COMMON_CFG, VirtioPciCapType.NOTIFY_CFG, VirtioPciCapType.ISR_CFG, VirtioPciCapType.PCI_CFG]) {
    assert.ok(d.structures.has(t), `capability type ${t}`);
  }
  assert.equal(d.structures.has(VirtioPciCapType.DEVICE_CFG), false, 'rng has no device config');
  assert.equal(d.structures.get(VirtioPciCapType.NOTIFY_CFG)!.multiplier, 4);
  assert.ok(d.msixCap > 0);
  assert.deepEqual(d.transport.notifyAddresses(), [{ address: 0xc000_3000, queue: 0 }]);
});

test('DRIVER_OK activates the device; a kick is served and interrupts through the queue vector', () => {
  const d = new VirtioPciTestDriver(rng());
  assert.equal(d.initialize(), OK);
  assert.ok(d.transport.isActivated);
  assert.equal(d.transport.negotiatedFeatures & featureBit(VirtioFeatureBit.VERSION_1), featureBit(VirtioFeatureBit.VERSION_1));
  const q = d.queues[0]!;
  const head = q.addChain([{ writableLength: 32 }]);
  d.kick(0);
  assert.deepEqual(q.takeUsed(), [{ head, len: 32 }]);
  assert.ok(q.readWritten(head, 32).every((b) => b === 0xab));
  assert.equal(d.interruptsFor(1), 1);
  assert.deepEqual(d.msi.messages.get(1), { address: 0xfee0_0000n, data: 0x41 });
  assert.equal(d.transport.metrics().bytesToGuest, 32);
});

test('feature negotiation: FEATURES_OK refused without VERSION_1 or with unknown bits', () => {
  const noVersion = new VirtioPciTestDriver(rng(), { acceptFeatures: (f) => f & ~featureBit(VirtioFeatureBit.VERSION_1) });
  assert.equal(noVersion.initialize() & DeviceStatus.FEATURES_OK, 0);
  const unknown = new VirtioPciTestDriver(rng(), { acceptFeatures: (f) => f | featureBit(5) });
  assert.equal(unknown.initialize() & DeviceStatus.FEATURES_OK, 0);
  assert.equal(unknown.transport.isActivated, false);
});

test('device features words: VERSION_1 in word 1, EVENT_IDX and INDIRECT_DESC in word 0', () => {
  const d = new VirtioPciTestDriver(rng());
  d.setCommon(CommonCfg.DEVICE_FEATURE_SELECT, 4, 0);
  assert.equal(d.common(CommonCfg.DEVICE_FEATURE, 4), (1 << 28) | (1 << 29));
  d.setCommon(CommonCfg.DEVICE_FEATURE_SELECT, 4, 1);
  assert.equal(d.common(CommonCfg.DEVICE_FEATURE, 4), 1);
  d.setCommon(CommonCfg.DEVICE_FEATURE_SELECT, 4, 7);
  assert.equal(d.common(CommonCfg.DEVICE_FEATURE, 4), 0);
});

test('reset (status 0) deactivates and clears queue configuration', () => {
  const d = new VirtioPciTestDriver(rng());
  d.initialize();
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, 0);
  assert.equal(d.status, 0);
  assert.equal(d.transport.isActivated, false);
  d.setCommon(CommonCfg.QUEUE_SELECT, 2, 0);
  assert.equal(d.common(CommonCfg.QUEUE_ENABLE, 2), 0);
  assert.equal(d.common(CommonCfg.QUEUE_SIZE, 2), 256);
  assert.equal(d.common(CommonCfg.CONFIG_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
  // A kick after reset is ignored.
  d.kick(0);
});

test('queue registers: out-of-range select reads size 0; bad MSI-X vector reads NO_VECTOR', () => {
  const d = new VirtioPciTestDriver(rng());
  d.setCommon(CommonCfg.QUEUE_SELECT, 2, 5);
  assert.equal(d.common(CommonCfg.QUEUE_SIZE, 2), 0);
  d.setCommon(CommonCfg.QUEUE_SELECT, 2, 0);
  d.setCommon(CommonCfg.QUEUE_MSIX_VECTOR, 2, 99);
  assert.equal(d.common(CommonCfg.QUEUE_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
  d.setCommon(CommonCfg.QUEUE_DESC, 4, 0x1234_5000);
  d.setCommon(CommonCfg.QUEUE_DESC + 4, 4, 0x1);
  assert.equal(d.common(CommonCfg.QUEUE_DESC, 4), 0x1234_5000);
  assert.equal(d.common(CommonCfg.QUEUE_DESC + 4, 4), 1);
});

test('malformed queue sets DEVICE_NEEDS_RESET, raises the config vector and stops processing', () => {
  const errors: unknown[] = [];
  const d = new VirtioPciTestDriver(rng());
  (d.transport as unknown as { options: { onDeviceError: (e: unknown) => void } }).options.onDeviceError = (e) => errors.push(e);
  d.initialize();
  const q = d.queues[0]!;
  q.writeDescriptor(q.descTable, 0, 0x20000, 16, VirtqDescFlags.NEXT | VirtqDescFlags.WRITE, 0); // self-loop
  q.publish(0);
  const generation = d.common(CommonCfg.CONFIG_GENERATION, 1);
  d.kick(0);
  assert.equal(d.status & DeviceStatus.DEVICE_NEEDS_RESET, DeviceStatus.DEVICE_NEEDS_RESET);
  assert.equal(d.interruptsFor(0), 1, 'config-change interrupt');
  assert.notEqual(d.common(CommonCfg.CONFIG_GENERATION, 1), generation);
  assert.equal(errors.length, 1);
  q.addChain([{ writableLength: 4 }]);
  d.kick(0);
  assert.deepEqual(q.takeUsed(), [], 'no processing while broken');
  // The driver resets and starts over: the device works again.
  const again = d.initialize();
  assert.equal(again, OK);
});

test('invalid ring address at DRIVER_OK is a guest error, not an exception', () => {
  const d = new VirtioPciTestDriver(rng());
  // Negotiate by hand and program a descriptor table above 4 GiB (outside this guest's RAM).
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
  d.setCommon(CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
  d.setCommon(CommonCfg.DRIVER_FEATURE, 4, 1);
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
  d.setCommon(CommonCfg.QUEUE_SELECT, 2, 0);
  d.setCommon(CommonCfg.QUEUE_DESC + 4, 4, 0xffff_ffff);
  d.setCommon(CommonCfg.QUEUE_ENABLE, 2, 1);
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, OK);
  assert.equal(d.status & DeviceStatus.DEVICE_NEEDS_RESET, DeviceStatus.DEVICE_NEEDS_RESET);
  assert.equal(d.initialize(), OK, 'a reset recovers');
});

test('ISR status is read-to-clear', () => {
  const d = new VirtioPciTestDriver(rng());
  d.initialize();
  d.queues[0]!.addChain([{ writableLength: 4 }]);
  d.kick(0);
  const isr = d.structures.get(VirtioPciCapType.ISR_CFG)!.offset;
  assert.equal(d.barRead(isr, 1), 1);
  assert.equal(d.barRead(isr, 1), 0);
});

test('save/restore: a restored transport resumes the running device', () => {
  const d = new VirtioPciTestDriver(rng());
  d.initialize();
  const q = d.queues[0]!;
  q.addChain([{ writableLength: 8 }]);
  d.kick(0);
  q.takeUsed();
  const state = JSON.parse(JSON.stringify(d.transport.save()));
  const fresh = new VirtioPciTestDriver(rng());
  // Share guest memory: copy the old memory into the new driver's memory.
  fresh.memory.regions[0]!.bytes.set(d.memory.regions[0]!.bytes);
  fresh.transport.restore(state);
  assert.equal(fresh.transport.isActivated, true);
  assert.equal(fresh.status, OK);
  // The old driver's rings live in the copied memory: add a chain through them against the new transport.
  const head = q.addChain([{ writableLength: 8 }]);
  fresh.memory.regions[0]!.bytes.set(d.memory.regions[0]!.bytes);
  fresh.transport.notifyQueue(0);
  assert.equal(fresh.memory.readU16(q.usedRing + 2), 2, 'used idx continued from the saved state');
  assert.equal(fresh.memory.readU32(q.usedRing + 4 + 8), head);
  assert.equal(fresh.msi.messages.get(1)?.data, 0x41, 'MSI-X routes re-announced on restore');
});

test('PCI_CFG capability window reads and writes the BAR', () => {
  const d = new VirtioPciTestDriver(rng());
  let at = d.configRead(PciHeader.CAPABILITIES_POINTER, 1);
  let cap = 0;
  while (at) {
    if (d.configRead(at, 1) === 0x09 && d.configRead(at + 3, 1) === VirtioPciCapType.PCI_CFG) cap = at;
    at = d.configRead(at + 1, 1);
  }
  assert.ok(cap);
  d.configWrite(cap + 4, 1, 0);
  d.configWrite(cap + 8, 4, CommonCfg.NUM_QUEUES);
  d.configWrite(cap + 12, 4, 2);
  assert.equal(d.configRead(cap + 16, 2), 1, 'num_queues through the window');
  d.configWrite(cap + 8, 4, CommonCfg.QUEUE_SELECT);
  d.configWrite(cap + 16, 2, 3);
  assert.equal(d.common(CommonCfg.QUEUE_SELECT, 2), 3);
});

test('chains queued and kicked before DRIVER_OK are served at activation', () => {
  const d = new VirtioPciTestDriver(rng());
  d.initialize();
  const q = d.queues[0]!;
  // Simulate the balloon pattern: reset, set up again, but add a chain and kick before DRIVER_OK.
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, 0);
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
  d.setCommon(CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
  d.setCommon(CommonCfg.DRIVER_FEATURE, 4, 1);
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
  d.setCommon(CommonCfg.QUEUE_SELECT, 2, 0);
  d.setCommon(CommonCfg.QUEUE_SIZE, 2, q.size);
  d.setCommon(CommonCfg.QUEUE_DESC, 4, q.descTable);
  d.setCommon(CommonCfg.QUEUE_DRIVER, 4, q.availRing);
  d.setCommon(CommonCfg.QUEUE_DEVICE, 4, q.usedRing);
  d.setCommon(CommonCfg.QUEUE_ENABLE, 2, 1);
  // The ring memory still holds the previous session's indices: start the driver view over.
  d.memory.fill(q.availRing, 4, 0);
  d.memory.fill(q.usedRing, 4, 0);
  q.setAvailIndex(0);
  q.setUsedSeen(0);
  const head = q.addChain([{ writableLength: 4 }]);
  d.kick(0);
  assert.deepEqual(q.takeUsed(), [], 'not served before DRIVER_OK');
  d.setCommon(CommonCfg.DEVICE_STATUS, 1, OK);
  assert.deepEqual(q.takeUsed(), [{ head, len: 4 }]);
});
