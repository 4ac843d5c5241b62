import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../bus.js';
import { RecordingIrqLine } from '../interrupts.js';
import { ACPI_PM1A_CNT_BLK, ACPI_RESET_PORT, ACPI_RESET_VALUE, ACPI_S5_SLP_TYP, COM1_PORT, I8042_COMMAND_PORT, POST_PORT, RTC_PORT } from '../../arch/x86_64/layout.js';
import { LegacyDevices } from './index.js';

function machine() {
  const events: string[] = [];
  const output: number[] = [];
  const irqs = { com1: new RecordingIrqLine(), sci: new RecordingIrqLine(), keyboard: new RecordingIrqLine() };
  const devices = new LegacyDevices({
    irqs,
    onSerialOutput: (b) => output.push(...b),
    onReset: () => events.push('reset'),
    onPowerOff: () => events.push('poweroff'),
    clocks: { wallMs: () => Date.UTC(2030, 0, 2, 3, 4, 5), monotonicNs: () => 0n },
  });
  const pio = new Bus();
  devices.attach(pio);
  const outb = (port: number, v: number) => pio.write(port, Uint8Array.of(v));
  const inb = (port: number) => {
    const d = new Uint8Array(1);
    pio.read(port, d);
    return d[0]!;
  };
  return { devices, pio, events, output, irqs, outb, inb };
}

test('the whole legacy set maps without overlap and answers at the layout.ts ports', () => {
  const m = machine();
  const names = m.pio.list().map((r) => r.name);
  assert.deepEqual(names.sort(), ['acpi-pm', 'com1', 'i8042-command', 'i8042-data', 'io-delay', 'post', 'rtc'].sort());
  for (const c of Buffer.from('ok')) m.outb(COM1_PORT, c);
  assert.equal(Buffer.from(m.output).toString(), 'ok');
  m.outb(RTC_PORT, 0x09);
  assert.equal(m.inb(RTC_PORT + 1), 0x30, 'RTC year 2030 in BCD');
  m.outb(POST_PORT, 0x42);
  assert.equal(m.devices.sinks.get('post')!.lastValue, 0x42);
  m.outb(I8042_COMMAND_PORT, 0xfe);
  m.outb(ACPI_RESET_PORT, ACPI_RESET_VALUE);
  m.pio.write(ACPI_PM1A_CNT_BLK, Uint8Array.of(0, (ACPI_S5_SLP_TYP << 2) | 0x20));
  assert.deepEqual(m.events, ['reset', 'reset', 'poweroff']);
});

test('save/restore of the set round-trips through JSON', () => {
  const a = machine();
  a.outb(COM1_PORT + 7, 0x5a);
  a.outb(RTC_PORT, 0x20);
  a.outb(RTC_PORT + 1, 0x77);
  const saved = JSON.parse(JSON.stringify(a.devices.save()));
  const b = machine();
  b.devices.restore(saved);
  assert.deepEqual(b.devices.save(), a.devices.save());
  assert.equal(b.inb(COM1_PORT + 7), 0x5a);
  assert.throws(() => b.devices.restore({ ...saved, version: 0 }), /version/);
});

test('random guest port traffic never throws, and state round-trips at any point', () => {
  const m = machine();
  // Deterministic xorshift PRNG so a failure reproduces.
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const ranges = m.pio.list();
  for (let i = 0; i < 20_000; i++) {
    const r = ranges[random(ranges.length)]!;
    const size = [1, 2, 4][random(3)]!;
    const port = r.base + random(r.length);
    const data = new Uint8Array(size);
    if (random(2)) {
      m.pio.read(port, data);
    } else {
      for (let b = 0; b < size; b++) data[b] = random(256);
      m.pio.write(port, data);
    }
    if (i % 2000 === 0) {
      m.devices.com1.enqueueInput(Uint8Array.of(random(256)));
      const saved = JSON.parse(JSON.stringify(m.devices.save()));
      const copy = machine();
      copy.devices.restore(saved);
      assert.deepEqual(copy.devices.save(), m.devices.save());
    }
  }
  const iir = new Uint8Array(1);
  m.pio.read(COM1_PORT + 2, iir);
  assert.ok([0x01, 0x06, 0x04, 0x02, 0x00].includes(iir[0]! & 0x0f), `IIR 0x${iir[0]!.toString(16)}`);
});
