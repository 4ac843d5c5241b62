import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../memory/guest-memory.js';
import { getField } from './byte-layout.js';
import { MiB, MPTABLE_START, RSDP_START } from './layout.js';
import { MpConfigHeader, MpFloatingPointer } from './mptable.js';
import { writeFirmwareTables } from './firmware-tables.js';

test('firmware tables: the ACPI tables and an MP table that list the same vCPUs', () => {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  const { rsdpAddress, tables } = writeFirmwareTables(mem, { vcpus: 3 });
  assert.equal(rsdpAddress, RSDP_START);
  assert.equal(new TextDecoder().decode(mem.slice(rsdpAddress, 8)), 'RSD PTR ');
  const madt = tables.find((t) => t.signature === 'APIC')!;
  // MADT (ACPI 6.4 §5.2.12): 44-byte header, then entries; type 0 (processor local APIC) is 8 bytes.
  const madtBytes = mem.slice(madt.address, madt.length);
  let lapics = 0;
  for (let at = 44; at < madtBytes.length; at += madtBytes[at + 1]!) if (madtBytes[at] === 0) lapics++;
  assert.equal(lapics, 3);

  const pointer = mem.slice(MPTABLE_START, MpFloatingPointer.SIZE);
  assert.equal(new TextDecoder().decode(pointer.subarray(0, 4)), '_MP_');
  const config = mem.slice(getField(pointer, MpFloatingPointer.CONFIG_ADDRESS), MpConfigHeader.SIZE + 3 * 20);
  const processors = [0, 1, 2].map((i) => config[MpConfigHeader.SIZE + i * 20]);
  assert.deepEqual(processors, [0, 0, 0]); // entry type 0: processor
});
