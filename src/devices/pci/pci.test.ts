import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingMsiController } from '../interrupts.js';
import type { BusDevice } from '../bus.js';
import { PciConfigSpace } from './config-space.js';
import type { PciDevice } from './device.js';
import { PciCommand, PciHeader, PciStatus } from './layout.js';
import { Msix, MsixLayout } from './msix.js';
import { BarAllocator } from './bar-allocator.js';
import { PciRoot } from './root.js';

const u32 = (v: number) => new Uint8Array(new Uint32Array([v >>> 0]).buffer);
const u16 = (v: number) => new Uint8Array(new Uint16Array([v]).buffer);
function read(cs: { read(o: number, d: Uint8Array): void }, offset: number, size = 4): number {
  const d = new Uint8Array(size);
  cs.read(offset, d);
  return size === 4 ? new DataView(d.buffer).getUint32(0, true) : size === 2 ? new DataView(d.buffer).getUint16(0, true) : d[0]!;
}

function space(): PciConfigSpace {
  return new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1041, revisionId: 1, classCode: 0x020000 });
}

test('header fields are read-only except command, cache line, latency and interrupt line', () => {
  const cs = space();
  cs.write(PciHeader.VENDOR_ID, u32(0xdeadbeef));
  assert.equal(read(cs, PciHeader.VENDOR_ID), 0x1041_1af4);
  cs.write(PciHeader.COMMAND, u16(0xffff));
  assert.equal(read(cs, PciHeader.COMMAND, 2), 0x0407);
  assert.equal(read(cs, PciHeader.CLASS_CODE, 1), 0x02);
  cs.write(PciHeader.INTERRUPT_LINE, Uint8Array.of(11));
  assert.equal(read(cs, PciHeader.INTERRUPT_LINE, 1), 11);
  assert.equal(read(cs, 0x100), 0, 'extended space reads zero (no extended capabilities)');
});

test('32-bit BAR size probing and programming', () => {
  const cs = space();
  cs.defineBar({ index: 1, size: 0x1000, kind: 'memory32' });
  cs.write(PciHeader.BAR0 + 4, u32(0xffff_ffff));
  assert.equal(read(cs, PciHeader.BAR0 + 4), 0xffff_f000);
  cs.write(PciHeader.BAR0 + 4, u32(0xc000_1234));
  assert.equal(read(cs, PciHeader.BAR0 + 4), 0xc000_1000);
  assert.equal(cs.barAddress(1), 0xc000_1000);
  cs.write(PciHeader.BAR0, u32(0xffff_ffff));
  assert.equal(read(cs, PciHeader.BAR0), 0, 'unimplemented BAR reads zero');
});

test('64-bit BAR: type bits, size mask across both dwords, addresses above 4 GiB', () => {
  const cs = space();
  cs.defineBar({ index: 0, size: 0x8000, kind: 'memory64', prefetchable: true });
  assert.equal(read(cs, PciHeader.BAR0) & 0xf, 0xc);
  cs.write(PciHeader.BAR0, u32(0xffff_ffff));
  cs.write(PciHeader.BAR0 + 4, u32(0xffff_ffff));
  assert.equal(read(cs, PciHeader.BAR0), 0xffff_800c);
  assert.equal(read(cs, PciHeader.BAR0 + 4), 0xffff_ffff);
  cs.write(PciHeader.BAR0, u32(0x0000_8000));
  cs.write(PciHeader.BAR0 + 4, u32(0x10));
  assert.equal(cs.barAddress(0), 0x10_0000_8000);
  assert.throws(() => cs.defineBar({ index: 1, size: 16, kind: 'memory32' }), /already defined/);
  const big = space();
  big.defineBar({ index: 2, size: 0x2_0000_0000, kind: 'memory64' });
  big.write(PciHeader.BAR0 + 8, u32(0xffff_ffff));
  big.write(PciHeader.BAR0 + 12, u32(0xffff_ffff));
  assert.equal(read(big, PciHeader.BAR0 + 8), 0x4);
  assert.equal(read(big, PciHeader.BAR0 + 12), 0xffff_fffe);
});

test('BAR moves are reported only with memory decoding on and not while probing', () => {
  const cs = space();
  cs.defineBar({ index: 0, size: 0x1000, kind: 'memory32' });
  cs.setBarAddress(0, 0xc000_0000);
  const moves: Array<[number, number, number]> = [];
  cs.onBarMoved = (bar, from, to) => moves.push([bar, from, to]);
  cs.write(PciHeader.BAR0, u32(0xffff_ffff));
  cs.write(PciHeader.BAR0, u32(0xc000_0000));
  cs.write(PciHeader.COMMAND, u16(PciCommand.MEMORY_SPACE));
  assert.deepEqual(moves, [], 'Linux sizing with decode off then restore');
  cs.write(PciHeader.BAR0, u32(0xffff_ffff));
  assert.deepEqual(moves, [], 'probe pattern with decode on is not a move');
  cs.write(PciHeader.BAR0, u32(0xd000_0000));
  assert.deepEqual(moves, [[0, 0xc000_0000, 0xd000_0000]]);
  cs.write(PciHeader.COMMAND, u16(0));
  cs.write(PciHeader.BAR0, u32(0xe000_0000));
  assert.equal(moves.length, 1);
  cs.write(PciHeader.COMMAND, u16(PciCommand.MEMORY_SPACE));
  assert.deepEqual(moves[1], [0, 0xd000_0000, 0xe000_0000], 'enabling decode maps the new address');
});

test('capability list walk', () => {
  const cs = space();
  const a = cs.addCapability(0x09, new Uint8Array(16));
  const b = cs.addCapability(0x11, new Uint8Array(12));
  assert.equal(read(cs, PciHeader.STATUS, 2) & PciStatus.CAPABILITIES_LIST, PciStatus.CAPABILITIES_LIST);
  assert.equal(read(cs, PciHeader.CAPABILITIES_POINTER, 1), a);
  assert.equal(read(cs, a, 1), 0x09);
  assert.equal(read(cs, a + 1, 1), b);
  assert.equal(read(cs, b, 1), 0x11);
  assert.equal(read(cs, b + 1, 1), 0);
  assert.throws(() => cs.addCapability(0x09, new Uint8Array(250)), /does not fit/);
});

test('MSI-X: masking, pending bits, delivery on unmask, function mask and enable', () => {
  const cs = space();
  cs.defineBar({ index: 0, size: 0x8000, kind: 'memory64' });
  const msi = new RecordingMsiController();
  const msix = new Msix(cs, msi, { vectors: 3, bar: 0, tableOffset: 0x4000, pbaOffset: 0x6000 });
  const control = msix.capabilityOffset + MsixLayout.MESSAGE_CONTROL;
  assert.equal(read(cs, control, 2) & MsixLayout.CONTROL_TABLE_SIZE_MASK, 2);
  assert.equal(read(cs, msix.capabilityOffset + 4), 0x4000);
  const tw = (o: number, v: number) => msix.tableRegion.write(o, u32(v));
  tw(16 + 0, 0xfee0_1000);
  tw(16 + 8, 0x31);
  msix.trigger(1);
  assert.deepEqual(msi.triggered, [], 'disabled: dropped');
  cs.write(control, u16(MsixLayout.CONTROL_ENABLE));
  msix.trigger(1);
  assert.deepEqual(msi.triggered, [], 'entry masked at reset');
  assert.equal(read(msix.pbaRegion, 0, 1), 0b10);
  tw(16 + 12, 0);
  assert.deepEqual(msi.messages.get(1), { address: 0xfee0_1000n, data: 0x31 });
  assert.deepEqual(msi.triggered, [1], 'pending delivered on unmask');
  assert.equal(read(msix.pbaRegion, 0, 1), 0);
  msix.trigger(1);
  assert.deepEqual(msi.triggered, [1, 1]);
  cs.write(control, u16(MsixLayout.CONTROL_ENABLE | MsixLayout.CONTROL_FUNCTION_MASK));
  assert.equal(msi.messages.get(1), null);
  msix.trigger(1);
  assert.equal(msi.triggered.length, 2);
  assert.ok(msix.isPending(1));
  cs.write(control, u16(MsixLayout.CONTROL_ENABLE));
  assert.equal(msi.triggered.length, 3);
  msix.trigger(7);
  assert.equal(msi.triggered.length, 3, 'out-of-range vector ignored');
  const saved = JSON.parse(JSON.stringify(msix.save()));
  const msi2 = new RecordingMsiController();
  const cs2 = space();
  cs2.defineBar({ index: 0, size: 0x8000, kind: 'memory64' });
  const msix2 = new Msix(cs2, msi2, { vectors: 3, bar: 0, tableOffset: 0x4000, pbaOffset: 0x6000 });
  cs2.restore(cs.save());
  msix2.restore(saved);
  assert.deepEqual(msi2.messages.get(1), { address: 0xfee0_1000n, data: 0x31 });
});

class FakeDevice implements PciDevice {
  readonly name = 'fake';
  readonly config = space();
  readonly region: BusDevice = { read: (_o, d) => d.fill(0x5a), write: () => {} };
  constructor() {
    this.config.defineBar({ index: 0, size: 0x4000, kind: 'memory64' });
    this.config.defineBar({ index: 2, size: 0x1000, kind: 'memory32' });
  }
  barRegion(bar: number): BusDevice | undefined {
    return bar === 0 || bar === 2 ? this.region : undefined;
  }
}

test('root: host bridge at 00.0, devices via CF8/CFC and ECAM, BAR allocation and move hook', () => {
  const root = new PciRoot(new BarAllocator());
  const dev = new FakeDevice();
  const slot = root.addDevice(dev);
  assert.equal(slot, 1);
  const cf8 = (bus: number, s: number, fn: number, reg: number) => root.configIo.write(0, u32(0x8000_0000 | (bus << 16) | (s << 11) | (fn << 8) | reg));
  cf8(0, 0, 0, 0);
  assert.equal(read(root.configIo, 4), 0x0d57_8086);
  cf8(0, 0, 0, 8);
  assert.equal(read(root.configIo, 4) >>> 8, 0x060000);
  cf8(0, 1, 0, 0);
  assert.equal(read(root.configIo, 4), 0x1041_1af4);
  assert.equal(read(root.configIo, 6, 2), 0x1041, 'CFC+2 word access');
  assert.equal(read(root.configIo, 0), 0x8000_0800);
  cf8(0, 2, 0, 0);
  assert.equal(read(root.configIo, 4), 0xffff_ffff, 'empty slot');
  cf8(0, 1, 1, 0);
  assert.equal(read(root.configIo, 4), 0xffff_ffff, 'function 1 absent');
  cf8(1, 1, 0, 0);
  assert.equal(read(root.configIo, 4), 0xffff_ffff, 'bus 1 absent');
  assert.equal(read(root.ecam, (1 << 15) | 0), 0x1041_1af4);
  assert.equal(read(root.ecam, (1 << 20) | (1 << 15)), 0xffff_ffff);
  const maps = root.barMappings();
  assert.deepEqual(
    maps.map((m) => [m.bar, m.address, m.size]),
    [[0, 0xc000_0000, 0x4000], [2, 0xc000_4000, 0x1000]],
  );
  const moves: Array<[string, number, number, number]> = [];
  root.onBarMoved = (d, bar, from, to) => moves.push([d.name, bar, from, to]);
  root.ecam.write((1 << 15) | PciHeader.COMMAND, u16(PciCommand.MEMORY_SPACE));
  root.ecam.write((1 << 15) | (PciHeader.BAR0 + 8), u32(0xd000_0000));
  assert.deepEqual(moves, [['fake', 2, 0xc000_4000, 0xd000_0000]]);
  assert.throws(() => root.addDevice(new FakeDevice(), 1), /taken/);
});

test('BAR allocator: natural alignment, 64-bit window when preferred or when the 32-bit one is full', () => {
  const a = new BarAllocator({ start: 0xc000_0000, size: 0x10000 }, { start: 0x10_0000_0000, size: 0x1_0000_0000 });
  assert.equal(a.allocate({ index: 0, size: 0x100, kind: 'memory32' }), 0xc000_0000);
  assert.equal(a.allocate({ index: 0, size: 0x4000, kind: 'memory64' }), 0xc000_4000);
  assert.equal(a.allocate({ index: 0, size: 0x10000, kind: 'memory64' }), 0x10_0000_0000);
  assert.throws(() => a.allocate({ index: 0, size: 0x10000, kind: 'memory32' }), /full/);
  const high = new BarAllocator(undefined, undefined, true);
  assert.ok(high.allocate({ index: 0, size: 0x4000, kind: 'memory64' }) >= 0x10_0000_0000);
});
