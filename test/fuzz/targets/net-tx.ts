/**
 * Fuzz target `net-tx`: a virtio-net device behind the real virtio-pci
 * transport, with random feature negotiation, valid and mutated tx/rx
 * chains, random packets from the backend and random MMIO/config writes.
 * Properties: nothing ever throws out of the transport (guest errors become
 * DEVICE_NEEDS_RESET), the device never touches memory outside RAM, work is
 * bounded, and every frame handed to the backend carries at least a vnet header.
 */
import { VirtioNet, NET_RECEIVE_QUEUE, NET_TRANSMIT_QUEUE, type NetBackend } from '../../../src/devices/virtio/net/net.js';
import { VirtioNetHeader, MAX_NET_PACKET } from '../../../src/devices/virtio/net/header.js';
import { DeviceStatus, VirtioFeatureBit, featureBit } from '../../../src/devices/virtio/constants.js';
import { VirtioPciTestDriver } from '../../../src/devices/virtio/transport/test-driver.js';
import { VirtioPciBar } from '../../../src/devices/virtio/transport/layout.js';
import { FuzzPropertyError, GuardedMemory, corrupt, type FuzzRandom, type FuzzTarget } from '../harness.js';

const MEMORY_SIZE = 0x40000;

export const target: FuzzTarget = {
  name: 'net-tx',
  description: 'virtio-net tx/rx through the virtio-pci transport with hostile queues and registers',
  run(random: FuzzRandom): void {
    const inbound: Uint8Array[] = [];
    for (let i = random.int(4); i > 0; i--) inbound.push(random.bytes(random.chance(0.2) ? random.int(12) : 12 + random.int(400)));
    const backend: NetBackend = {
      read: (frame) => {
        const p = inbound.shift();
        if (!p) return -1;
        frame.set(p.subarray(0, frame.length));
        return Math.min(p.length, frame.length);
      },
      write: (packet) => {
        const length = packet.byteLength;
        if (length < VirtioNetHeader.SIZE || length > MAX_NET_PACKET) throw new FuzzPropertyError(`backend got a ${length}-byte packet`);
        if (random.chance(0.05)) throw new Error('ENOBUFS'); // host-side failure: must be absorbed
      },
    };
    let guard: GuardedMemory | null = null;
    const net = new VirtioNet({ backend, mac: Uint8Array.of(2, 0, 0, 0, 0, 1), queueSize: 1 << (1 + random.int(8)) });
    const driver = new VirtioPciTestDriver(net, {
      memorySize: MEMORY_SIZE,
      queueSize: 1 << random.int(9),
      acceptFeatures: (offered) => {
        let f = offered & BigInt.asUintN(64, (BigInt(random.u32()) << 32n) | BigInt(random.u32()));
        if (random.chance(0.9)) f |= featureBit(VirtioFeatureBit.VERSION_1);
        return f;
      },
      wrapMemory: (m) => (guard = new GuardedMemory(m, 500_000)),
    });
    const t = driver.transport;
    try {
      driver.initialize();
      if (!(driver.status & DeviceStatus.DRIVER_OK)) return;
      const tx = driver.queues[NET_TRANSMIT_QUEUE]!;
      const rx = driver.queues[NET_RECEIVE_QUEUE]!;
      for (let i = random.int(Math.min(tx.size, 6) + 1); i > 0; i--) {
        const parts = [];
        for (let p = 1 + random.int(3); p > 0; p--) parts.push({ data: random.bytes(random.int(200)) });
        if (random.chance(0.3) && tx.freeDescriptors >= 1) tx.addIndirectChain(parts);
        else if (tx.freeDescriptors >= parts.length) tx.addChain(parts);
      }
      for (let i = random.int(Math.min(rx.size, 4) + 1); i > 0; i--) rx.addChain([{ writableLength: random.int(600) }]);
      const areas = [tx, rx];
      for (let i = random.int(3); i > 0; i--) {
        const q = random.pick(areas);
        corrupt(driver.memory, random, q.descTable, q.usedRing + 8 * q.size + 6, 1 + random.int(6));
      }
      if (random.chance(0.2)) corrupt(driver.memory, random, 0x10000, MEMORY_SIZE, 1 + random.int(32));
      for (let i = random.int(4); i > 0; i--) {
        // Random register writes: common config, notify region, MSI-X table, device config, PCI config.
        const size = random.pick([1, 2, 4, 8]);
        const value = random.interestingU32();
        if (random.chance(0.8)) driver.barWrite(random.int(VirtioPciBar.SIZE) & ~(size - 1), size, size === 8 ? value : value % 2 ** (8 * size));
        else driver.configWrite(random.int(256) & ~(Math.min(size, 4) - 1), Math.min(size, 4), value % 2 ** (8 * Math.min(size, 4)));
      }
      driver.kick(NET_TRANSMIT_QUEUE);
      t.backendReady();
      t.notifyQueue(NET_RECEIVE_QUEUE);
      t.notifyQueue(random.interestingU16());
      if (random.chance(0.1)) t.restore(JSON.parse(JSON.stringify(t.save())));
      if (t.isBroken && !(t.deviceStatus & DeviceStatus.DEVICE_NEEDS_RESET)) {
        throw new FuzzPropertyError('transport broken without DEVICE_NEEDS_RESET in the status');
      }
    } catch (error) {
      if (error instanceof FuzzPropertyError) throw error;
      throw new FuzzPropertyError(`exception escaped the transport: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      (guard as GuardedMemory | null)?.assertClean();
    }
  },
};
