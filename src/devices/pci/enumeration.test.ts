/**
 * End-to-end PCI enumeration over real buses, the way Linux's pci_scan_bus +
 * virtio_pci_modern probe do it: config mechanism #1 and ECAM on the port and
 * MMIO buses, BAR sizing with decoding off, capability walk, MSI-X setup,
 * then the device's common configuration through the MMIO bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../bus.js';
import { RecordingMsiController } from '../interrupts.js';
import { RegionGuestMemory } from '../../memory/guest-memory.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_ECAM_SIZE, PCI_ECAM_START } from '../../arch/x86_64/layout.js';
import { PciRoot, PCI_CONFIG_IO_SIZE } from './root.js';
import { PciCapabilityId, PciCommand, PciHeader } from './layout.js';
import { MsixLayout } from './msix.js';
import { VirtioPciTransport } from '../virtio/transport/pci.js';
import { VirtioRng } from '../virtio/rng/rng.js';
import { VirtioNet } from '../virtio/net/net.js';
import { CommonCfg, VirtioPciCapType } from '../virtio/transport/layout.js';

function le(data: Uint8Array): number {
  return data.reduceRight((v, b) => v * 256 + b, 0);
}
function bytes(value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(value / 256 ** i) & 0xff;
  return out;
}

function machine() {
  const pio = new Bus();
  const mmio = new Bus();
  const memory = RegionGuestMemory.anonymous(1 << 20);
  const root = new PciRoot();
  pio.insert(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_IO_SIZE, root.configIo, 'pci-config');
  mmio.insert(PCI_ECAM_START, PCI_ECAM_SIZE, root.ecam, 'ecam');
  const msi = new RecordingMsiController();
  const net = new VirtioPciTransport(new VirtioNet({ backend: { read: () => -1, write: () => {} }, mac: new Uint8Array(6) }), { memory, msi });
  const rng = new VirtioPciTransport(new VirtioRng(), { memory, msi });
  root.addDevice(net);
  root.addDevice(rng);
  for (const m of root.barMappings()) mmio.insert(m.address, m.size, m.region, m.name);
  root.onBarMoved = (device, bar, from, to) => {
    const size = device.config.barDefinition(bar)!.size;
    mmio.remove(from);
    mmio.insert(to, size, device.barRegion(bar)!, device.name);
  };
  return { pio, mmio, root, net, rng, msi };
}

const type1 = (pio: Bus) => ({
  read(slot: number, reg: number, size: number): number {
    pio.write(PCI_CONFIG_ADDRESS_PORT, bytes(0x8000_0000 | (slot << 11) | (reg & 0xfc), 4));
    const d = new Uint8Array(size);
    pio.read(PCI_CONFIG_ADDRESS_PORT + 4 + (reg & 3), d);
    return le(d);
  },
  write(slot: number, reg: number, size: number, value: number): void {
    pio.write(PCI_CONFIG_ADDRESS_PORT, bytes(0x8000_0000 | (slot << 11) | (reg & 0xfc), 4));
    pio.write(PCI_CONFIG_ADDRESS_PORT + 4 + (reg & 3), bytes(value, size));
  },
});

test('Linux-style scan finds the host bridge and both virtio functions, sizes BARs and reaches the common config', () => {
  const { pio, mmio } = machine();
  const cfg = type1(pio);
  // pci_check_type1(): a byte write to 0xCFB must not disturb CONFIG_ADDRESS.
  pio.write(PCI_CONFIG_ADDRESS_PORT + 3, Uint8Array.of(1));
  const found: Array<{ slot: number; vendor: number; device: number; bar0: number; size: number }> = [];
  for (let slot = 0; slot < 32; slot++) {
    const id = cfg.read(slot, PciHeader.VENDOR_ID, 4);
    if ((id & 0xffff) === 0xffff) continue;
    let bar0 = 0;
    let size = 0;
    if (cfg.read(slot, PciHeader.CLASS_CODE, 1) !== 0x06) {
      const command = cfg.read(slot, PciHeader.COMMAND, 2);
      cfg.write(slot, PciHeader.COMMAND, 2, command & ~PciCommand.MEMORY_SPACE);
      const low = cfg.read(slot, PciHeader.BAR0, 4);
      const high = cfg.read(slot, PciHeader.BAR0 + 4, 4);
      cfg.write(slot, PciHeader.BAR0, 4, 0xffff_ffff);
      cfg.write(slot, PciHeader.BAR0 + 4, 4, 0xffff_ffff);
      const maskLow = cfg.read(slot, PciHeader.BAR0, 4) & ~0xf;
      const maskHigh = cfg.read(slot, PciHeader.BAR0 + 4, 4);
      cfg.write(slot, PciHeader.BAR0, 4, low);
      cfg.write(slot, PciHeader.BAR0 + 4, 4, high);
      cfg.write(slot, PciHeader.COMMAND, 2, command | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER);
      assert.equal(low & 0x6, 0x4, '64-bit memory BAR');
      size = Number(~((BigInt(maskHigh) << 32n) | BigInt(maskLow >>> 0)) & 0xffff_ffff_ffff_ffffn) + 1;
      bar0 = high * 2 ** 32 + ((low & ~0xf) >>> 0);
    }
    found.push({ slot, vendor: id & 0xffff, device: id >>> 16, bar0, size });
  }
  assert.deepEqual(
    found.map((f) => [f.slot, f.vendor, f.device, f.size]),
    [
      [0, 0x8086, 0x0d57, 0],
      [1, 0x1af4, 0x1041, 0x8000],
      [2, 0x1af4, 0x1044, 0x8000],
    ],
  );
  // Capability walk on the NIC through ECAM, then the common config through its BAR on the MMIO bus.
  const ecam = (reg: number, size: number) => {
    const d = new Uint8Array(size);
    mmio.read(PCI_ECAM_START + (1 << 15) + reg, d);
    return le(d);
  };
  let at = ecam(PciHeader.CAPABILITIES_POINTER, 1);
  let common = -1;
  let msix = -1;
  while (at) {
    if (ecam(at, 1) === PciCapabilityId.VENDOR_SPECIFIC && ecam(at + 3, 1) === VirtioPciCapType.COMMON_CFG) common = ecam(at + 8, 4);
    if (ecam(at, 1) === PciCapabilityId.MSIX) msix = at;
    at = ecam(at + 1, 1);
  }
  assert.ok(common >= 0 && msix > 0);
  assert.equal(ecam(msix + MsixLayout.MESSAGE_CONTROL, 2) & MsixLayout.CONTROL_TABLE_SIZE_MASK, 2, '3 vectors: rx, tx, config');
  const d = new Uint8Array(2);
  assert.equal(mmio.read(found[1]!.bar0 + common + CommonCfg.NUM_QUEUES, d), true);
  assert.equal(le(d), 2);
});

test('a BAR the guest moves is re-mapped and its notify addresses follow', () => {
  const { pio, mmio, net } = machine();
  const cfg = type1(pio);
  const target = 0xd000_0000;
  cfg.write(1, PciHeader.COMMAND, 2, 0);
  cfg.write(1, PciHeader.BAR0, 4, target);
  cfg.write(1, PciHeader.BAR0 + 4, 4, 0);
  cfg.write(1, PciHeader.COMMAND, 2, PciCommand.MEMORY_SPACE);
  const d = new Uint8Array(2);
  assert.equal(mmio.read(target + CommonCfg.NUM_QUEUES, d), true);
  assert.equal(le(d), 2);
  assert.equal(net.notifyAddresses()[1]!.address, target + 0x3000 + 4);
});
