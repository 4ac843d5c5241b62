/**
 * The device model of a whole VM without KVM: the PCI bus as a guest sees it
 * through ports 0xCF8/0xCFC, with virtio functions built from a VmConfig.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingIrqLine, RecordingMsiController } from '../devices/interrupts.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { DeviceManager } from './device-manager.js';
import { DEFAULT_CMDLINE, type VmConfig } from './config.js';
import type { InterruptRouter } from './irq-routing.js';

const router: InterruptRouter = {
  legacyLine: () => new RecordingIrqLine(),
  msiController: () => Object.assign(new RecordingMsiController(), { close: () => undefined }),
};

function configWith(dir: string): VmConfig {
  const disk = join(dir, 'disk.raw');
  writeFileSync(disk, Buffer.alloc(1024 * 1024));
  return {
    kernelPath: '/k',
    cmdline: DEFAULT_CMDLINE,
    vcpus: 1,
    memoryMiB: 64,
    disks: [{ path: disk, readonly: true, serial: 'disk0' }],
    nets: [],
    rng: true,
    balloon: true,
    virtioConsole: true,
    kvmPath: '/dev/kvm',
  };
}

function configRead(dm: DeviceManager, slot: number, register: number): number {
  const addr = new Uint8Array(4);
  new DataView(addr.buffer).setUint32(0, (0x8000_0000 | (slot << 11) | register) >>> 0, true);
  dm.pio.write(0xcf8, addr);
  const data = new Uint8Array(4);
  dm.pio.read(0xcfc, data);
  return new DataView(data.buffer).getUint32(0, true);
}

test('a guest enumerating PCI finds the host bridge and one virtio function per configured device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-dm-'));
  try {
    const memory = RegionGuestMemory.anonymous(64 * 1024 * 1024);
    const dm = new DeviceManager({
      config: configWith(dir),
      ram: { ranges: [] },
      memory,
      router,
      onConsoleOutput: () => undefined,
      onPowerOff: () => undefined,
      onReset: () => undefined,
    });
    dm.mapPciBars();
    const found: string[] = [];
    for (let slot = 0; slot < 32; slot++) {
      const id = configRead(dm, slot, 0);
      if (id === 0xffffffff) continue;
      found.push(`${slot}:${(id & 0xffff).toString(16)}:${(id >>> 16).toString(16)}`);
    }
    // virtio 1.2 §4.1.2: device id 0x1040 + type (blk 2, rng 4, console 3, balloon 5).
    assert.deepEqual(found, ['0:8086:d57', '1:1af4:1042', '2:1af4:1044', '3:1af4:1043', '4:1af4:1045']);
    // Every virtio BAR is on the MMIO bus at the address its BAR register holds.
    for (let slot = 1; slot <= 4; slot++) {
      const lo = configRead(dm, slot, 0x10) & ~0xf;
      const hi = configRead(dm, slot, 0x14);
      const base = hi * 0x1_0000_0000 + (lo >>> 0);
      assert.ok(dm.mmio.list().some((r) => r.base === base), `slot ${slot} BAR0 0x${base.toString(16)} mapped`);
    }
    const state = dm.save();
    assert.equal(state.virtio.length, 4);
    dm.restore(JSON.parse(JSON.stringify(state)));
    dm.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
