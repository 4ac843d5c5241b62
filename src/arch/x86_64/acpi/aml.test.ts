import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buffer, device, eisaId, integer, method, name, nameString, packageOf, pkgLength, returnValue, scope, string } from './aml.js';
import { io, irqNoFlags, qwordMemory, resourceTemplate, wordBusNumber } from './resources.js';

test('PkgLength: one byte below 64, then lead nibble plus whole bytes (ACPI 6.5 §20.2.4)', () => {
  assert.deepEqual(pkgLength(0), [1]);
  assert.deepEqual(pkgLength(62), [63]);
  assert.deepEqual(pkgLength(63), [0x41, 0x04]); // 65 = 0x41: lead 0x40|0x1, then 0x41 >> 4
  assert.deepEqual(pkgLength(0x1000), [0x83, 0x00, 0x01]); // 0x1003: two bytes hold only < 0x1000
  assert.deepEqual(pkgLength(4093), [0x4f, 0xff]); // 4095 fits two bytes
  assert.deepEqual(pkgLength(4094), [0x81, 0x00, 0x01]); // 4097 = 0x1001 in three bytes
  assert.throws(() => pkgLength(2 ** 28), /too long/);
});

test('integers use the shortest encoding', () => {
  assert.deepEqual(integer(0), [0x00]);
  assert.deepEqual(integer(1), [0x01]);
  assert.deepEqual(integer(5), [0x0a, 5]);
  assert.deepEqual(integer(0x3f8), [0x0b, 0xf8, 0x03]);
  assert.deepEqual(integer(0xfec00000), [0x0c, 0x00, 0x00, 0xc0, 0xfe]);
  assert.deepEqual(integer(0x10_0000_0000), [0x0e, 0, 0, 0, 0, 0x10, 0, 0, 0]);
  assert.throws(() => integer(-1), /out of range/);
});

test('names, strings and EISA ids', () => {
  assert.deepEqual(nameString('_S5'), [0x5f, 0x53, 0x35, 0x5f]);
  assert.deepEqual(nameString('\\_SB_'), [0x5c, 0x5f, 0x53, 0x42, 0x5f]);
  assert.deepEqual(nameString('\\_SB.PCI0'), [0x5c, 0x2e, ...'_SB_PCI0'].map((c) => (typeof c === 'string' ? c.charCodeAt(0) : c)));
  assert.deepEqual(nameString('A.B.C').slice(0, 2), [0x2f, 3]);
  assert.deepEqual(nameString('^FOO').slice(0, 1), [0x5e]);
  assert.throws(() => nameString('lower'), /not a valid AML name segment/);
  assert.deepEqual(string('ab'), [0x0d, 0x61, 0x62, 0x00]);
  // iasl: EisaId("PNP0A03") == 0x030AD041.
  assert.deepEqual(eisaId('PNP0A03'), [0x0c, 0x41, 0xd0, 0x0a, 0x03]);
  assert.deepEqual(eisaId('PNP0501'), [0x0c, 0x41, 0xd0, 0x05, 0x01]);
  assert.throws(() => eisaId('pnp0a03'), /EISA id/);
});

test('packages, buffers, scopes, devices and methods nest with correct lengths', () => {
  // Name(_S5_, Package(){5,5,0,0}) as iasl emits it.
  assert.deepEqual(name('_S5_', packageOf([integer(5), integer(5), integer(0), integer(0)])), [
    0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
  ]);
  assert.deepEqual(buffer([1, 2, 3]), [0x11, 0x06, 0x0a, 0x03, 1, 2, 3]); // PkgLength counts itself
  const dev = device('COM1', [name('_UID', integer(1))]);
  assert.deepEqual(dev.slice(0, 3), [0x5b, 0x82, dev.length - 2]);
  const sc = scope('\\_SB_', [dev]);
  assert.equal(sc[1], sc.length - 1);
  const m = method('_STA', 0, false, [returnValue(integer(0x0f))]);
  assert.deepEqual(m, [0x14, 0x09, 0x5f, 0x53, 0x54, 0x41, 0x00, 0xa4, 0x0a, 0x0f]);
  assert.equal(method('_DSM', 4, true, [])[6], 0x0c);
  assert.throws(() => method('_FOO', 8, false, []), /0\.\.7/);
});

test('resource descriptors and templates', () => {
  assert.deepEqual(io(0x3f8, 0x3f8, 0, 8), [0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08]);
  assert.deepEqual(irqNoFlags([4]), [0x22, 0x10, 0x00]);
  assert.throws(() => irqNoFlags([16]), /outside 0\.\.15/);
  const bus = wordBusNumber(0, 0);
  assert.deepEqual(bus.slice(0, 6), [0x88, 13, 0, 2, 0x0c, 0]);
  assert.equal(bus.length, 16);
  const q = qwordMemory(0x10_0000_0000, 0x10_0000_0000);
  assert.equal(q.length, 46);
  assert.deepEqual(q.slice(0, 3), [0x8a, 43, 0]);
  const template = resourceTemplate([io(0x60, 0x60, 1, 1)]);
  assert.deepEqual(template.slice(-2), [0x79, 0x00]);
  assert.deepEqual(template.slice(0, 4), [0x11, 0x0d, 0x0a, 10]);
});
