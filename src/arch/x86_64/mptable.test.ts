import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../memory/guest-memory.js';
import { getField } from './byte-layout.js';
import { checksumIsValid } from './acpi/sdt.js';
import { legacyIrqRoutes } from './irq-routing.js';
import { MAX_VCPUS, MiB, MPTABLE_START } from './layout.js';
import { MpConfigHeader, MpFloatingPointer, writeMpTable } from './mptable.js';

test('MP table: valid checksums, one processor per vCPU (BSP first), IRQ0 on IOAPIC pin 2', () => {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  writeMpTable(mem, 3);
  const pointer = mem.slice(MPTABLE_START, 16);
  assert.equal(new TextDecoder().decode(pointer.subarray(0, 4)), '_MP_');
  assert.ok(checksumIsValid(pointer));
  const configAddress = getField(pointer, MpFloatingPointer.CONFIG_ADDRESS);
  const header = mem.slice(configAddress, MpConfigHeader.SIZE);
  const config = mem.slice(configAddress, getField(header, MpConfigHeader.BASE_LENGTH));
  assert.equal(new TextDecoder().decode(config.subarray(0, 4)), 'PCMP');
  assert.ok(checksumIsValid(config));
  assert.equal(getField(config, MpConfigHeader.LAPIC_ADDRESS), 0xfee00000);
  const entries: number[][] = [];
  for (let at = MpConfigHeader.SIZE; at < config.length; ) {
    const size = config[at] === 0 ? 20 : 8;
    entries.push([...config.subarray(at, at + size)]);
    at += size;
  }
  assert.equal(entries.length, getField(config, MpConfigHeader.ENTRY_COUNT));
  assert.deepEqual(entries.filter((e) => e[0] === 0).map((e) => [e[1], e[3]]), [[0, 3], [1, 1], [2, 1]]);
  assert.deepEqual(entries.find((e) => e[0] === 2), [2, 0, 0x11, 1, 0x00, 0x00, 0xc0, 0xfe]);
  const ioInts = entries.filter((e) => e[0] === 3);
  assert.deepEqual(ioInts.find((e) => e[1] === 0 && e[5] === 0)!.slice(6), [0, 2]);
  assert.deepEqual(ioInts.find((e) => e[5] === 4)!.slice(6), [0, 4]);
  assert.equal(ioInts.find((e) => e[5] === 9)![2], 0x0d);
  writeMpTable(mem, MAX_VCPUS); // the largest table still fits in the EBDA's first KiB
  assert.throws(() => writeMpTable(mem, 0), /vCPU count/);
});

test('legacy IRQ routes: PIT (GSI 0) to IOAPIC pin 2, ISA IRQs on PIC and IOAPIC, no cascade route', () => {
  const routes = legacyIrqRoutes();
  assert.deepEqual(routes.filter((r) => r.gsi === 0), [
    { gsi: 0, chip: 'pic-master', pin: 0 },
    { gsi: 0, chip: 'ioapic', pin: 2 },
  ]);
  assert.deepEqual(routes.filter((r) => r.gsi === 10), [
    { gsi: 10, chip: 'pic-slave', pin: 2 },
    { gsi: 10, chip: 'ioapic', pin: 10 },
  ]);
  assert.deepEqual(routes.filter((r) => r.gsi === 20), [{ gsi: 20, chip: 'ioapic', pin: 20 }]);
  assert.equal(routes.filter((r) => r.gsi === 2).length, 0);
  assert.equal(routes.length, 15 + 23);
});
