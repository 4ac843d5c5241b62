/**
 * Fuzz target `pci`: random port and MMIO accesses (every size, aligned or
 * not) to CONFIG_ADDRESS/CONFIG_DATA, ECAM and the devices' BARs, as a
 * hostile guest kernel would issue them from vCPU exits. Property: no
 * access ever throws (an exception here would take down the device thread),
 * and BAR moves reported to the VMM are size-aligned.
 */
import { Bus, BusConflictError } from '../../../src/devices/bus.js';
import { RecordingMsiController } from '../../../src/devices/interrupts.js';
import { RegionGuestMemory } from '../../../src/memory/guest-memory.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_ECAM_SIZE, PCI_ECAM_START } from '../../../src/arch/x86_64/layout.js';
import { PciRoot, PCI_CONFIG_IO_SIZE } from '../../../src/devices/pci/root.js';
import { VirtioPciTransport } from '../../../src/devices/virtio/transport/pci.js';
import { VirtioNet } from '../../../src/devices/virtio/net/net.js';
import { VirtioRng } from '../../../src/devices/virtio/rng/rng.js';
import { FuzzPropertyError, type FuzzRandom, type FuzzTarget } from '../harness.js';

export const target: FuzzTarget = {
  name: 'pci',
  description: 'port/ECAM/BAR accesses of every size against the PCI root and virtio-pci functions',
  run(random: FuzzRandom): void {
    const pio = new Bus();
    const mmio = new Bus();
    const memory = RegionGuestMemory.anonymous(0x10000);
    const root = new PciRoot();
    pio.insert(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_IO_SIZE, root.configIo, 'pci-config');
    mmio.insert(PCI_ECAM_START, PCI_ECAM_SIZE, root.ecam, 'ecam');
    const msi = new RecordingMsiController();
    const devices = [
      new VirtioPciTransport(new VirtioNet({ backend: { read: () => -1, write: () => {} }, mac: new Uint8Array(6) }), { memory, msi }),
      new VirtioPciTransport(new VirtioRng(), { memory, msi }),
    ];
    for (const d of devices) root.addDevice(d);
    for (const m of root.barMappings()) mmio.insert(m.address, m.size, m.region, m.name);
    root.onBarMoved = (device, bar, from, to) => {
      const size = device.config.barDefinition(bar)!.size;
      if (to % size !== 0) throw new FuzzPropertyError(`BAR moved to unaligned 0x${to.toString(16)}`);
      // Follow the move like the VMM does; a conflicting address leaves the BAR unmapped (the guest's problem).
      mmio.remove(from);
      try {
        mmio.insert(to, size, device.barRegion(bar)!, device.name);
      } catch (error) {
        if (!(error instanceof BusConflictError)) throw error;
      }
    };
    const barBases = () => root.barMappings().map((m) => m.address);
    try {
      for (let step = 0; step < 64; step++) {
        const size = random.pick([1, 2, 4, 8]);
        const data = random.bytes(size);
        const write = random.chance(0.6);
        switch (random.int(4)) {
          case 0: {
            const port = PCI_CONFIG_ADDRESS_PORT + random.int(PCI_CONFIG_IO_SIZE - (size > 4 ? 4 : size) + 1);
            if (random.chance(0.5)) pio.write(PCI_CONFIG_ADDRESS_PORT, Uint8Array.of(random.pick([0, 4, 0x10, 0x34, 0x40, random.int(256)]), random.int(0x18) << 3, 0, 0x80));
            if (write) pio.write(port, data.subarray(0, Math.min(size, 4)));
            else pio.read(port, data.subarray(0, Math.min(size, 4)));
            break;
          }
          case 1: {
            const offset = (random.int(4) << 15) | (random.chance(0.1) ? random.int(8) << 12 : 0) | random.int(0x1000);
            if (write) mmio.write(PCI_ECAM_START + offset, data);
            else mmio.read(PCI_ECAM_START + offset, data);
            break;
          }
          default: {
            const base = random.pick(barBases());
            const offset = random.pick([0, 0x14, 0x16, 0x18, 0x1c, 0x20, 0x24, 0x1000, 0x2000, 0x3000, 0x4000, 0x400c, 0x6000, random.int(0x8000)]);
            if (write) mmio.write(base + offset, data);
            else mmio.read(base + offset, data);
          }
        }
      }
    } catch (error) {
      if (error instanceof FuzzPropertyError) throw error;
      throw new FuzzPropertyError(`a bus access threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  },
};
