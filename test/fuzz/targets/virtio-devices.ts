/**
 * Fuzz target `virtio-devices`: rng, console and balloon behind the real
 * virtio-pci transport, with random (often wrong) register sequences, valid
 * and corrupted chains on every queue, and host-side calls interleaved.
 * Properties: nothing throws out of the transport or the host APIs, no guest
 * memory access outside RAM, balloon PFNs handed to the host lie in RAM.
 */
import { VirtioRng } from '../../../src/devices/virtio/rng/rng.js';
import { VirtioConsole } from '../../../src/devices/virtio/console/console.js';
import { VirtioBalloon } from '../../../src/devices/virtio/balloon/balloon.js';
import type { VirtioDevice } from '../../../src/devices/virtio/device.js';
import { DeviceStatus, VirtioFeatureBit, featureBit } from '../../../src/devices/virtio/constants.js';
import { VirtioPciTestDriver } from '../../../src/devices/virtio/transport/test-driver.js';
import { VirtioPciBar } from '../../../src/devices/virtio/transport/layout.js';
import { FuzzPropertyError, GuardedMemory, corrupt, type FuzzRandom, type FuzzTarget } from '../harness.js';

const MEMORY_SIZE = 0x40000;

export const target: FuzzTarget = {
  name: 'virtio-devices',
  description: 'rng, console and balloon through virtio-pci with hostile registers and queues',
  run(random: FuzzRandom): void {
    const checkPfns = (pfns: number[]) => {
      for (const p of pfns) if (p * 4096 + 4096 > MEMORY_SIZE) throw new FuzzPropertyError(`balloon passed PFN ${p} outside RAM`);
    };
    const kind = random.int(3);
    const console = new VirtioConsole({ output: () => {}, maxPendingInput: 512 });
    const balloon = new VirtioBalloon({ onInflate: checkPfns, onDeflate: checkPfns, statsQueue: random.chance(0.8) });
    const device: VirtioDevice = kind === 0 ? new VirtioRng({ maxBytesPerRequest: 1 + random.int(4096) }) : kind === 1 ? console : balloon;
    let guard: GuardedMemory | null = null;
    const driver = new VirtioPciTestDriver(device, {
      memorySize: MEMORY_SIZE,
      queueSize: 1 << random.int(8),
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
      driver.queues.forEach((q) => {
        for (let i = random.int(Math.min(q.size, 4) + 1); i > 0; i--) {
          const readable = random.chance(0.5);
          const buffer = readable ? { data: random.bytes(random.int(64)) } : { writableLength: random.int(256) };
          if (random.chance(0.3)) q.addIndirectChain([buffer]);
          else q.addChain([buffer]);
        }
        if (random.chance(0.3)) corrupt(driver.memory, random, q.descTable, q.usedRing + 8 * q.size + 6, 1 + random.int(6));
      });
      for (let i = random.int(4); i > 0; i--) {
        const size = random.pick([1, 2, 4]);
        driver.barWrite(random.int(VirtioPciBar.SIZE) & ~(size - 1), size, random.interestingU32() % 2 ** (8 * size));
      }
      for (let step = 0; step < 6; step++) {
        switch (random.int(5)) {
          case 0:
            t.notifyQueue(random.int(driver.queues.length + 1));
            break;
          case 1:
            console.enqueueInput(random.bytes(random.int(100)));
            break;
          case 2:
            balloon.setTargetPages(random.int(64));
            balloon.requestStats();
            break;
          case 3:
            t.backendReady();
            break;
          default:
            if (random.chance(0.3)) t.restore(JSON.parse(JSON.stringify(t.save())));
        }
      }
    } catch (error) {
      if (error instanceof FuzzPropertyError) throw error;
      throw new FuzzPropertyError(`exception escaped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      (guard as GuardedMemory | null)?.assertClean();
    }
  },
};
