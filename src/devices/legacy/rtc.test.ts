import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rtc, RtcPortOffset, RtcRegister, StatusA, StatusB, STATUS_D_VRT } from './rtc.js';

// 2026-11-26 (a Thursday) 19:42:07.500 UTC
const BASE_MS = Date.UTC(2026, 10, 26, 19, 42, 7, 500);

function setup() {
  let now = BASE_MS;
  const rtc = new Rtc({ nowMs: () => now });
  const rd = (reg: number, nmiOff = false) => {
    rtc.write(RtcPortOffset.INDEX, Uint8Array.of(reg | (nmiOff ? 0x80 : 0)));
    const d = new Uint8Array(1);
    rtc.read(RtcPortOffset.DATA, d);
    return d[0]!;
  };
  const wr = (reg: number, v: number) => {
    rtc.write(RtcPortOffset.INDEX, Uint8Array.of(reg));
    rtc.write(RtcPortOffset.DATA, Uint8Array.of(v));
  };
  return { rtc, rd, wr, advance: (ms: number) => (now += ms), setNow: (ms: number) => (now = ms) };
}

test('BCD 24-hour by default: reads the host UTC time', () => {
  const { rd } = setup();
  assert.equal(rd(RtcRegister.SECONDS), 0x07);
  assert.equal(rd(RtcRegister.MINUTES), 0x42);
  assert.equal(rd(RtcRegister.HOURS), 0x19);
  assert.equal(rd(RtcRegister.DAY_OF_WEEK), 0x05, 'Thursday = 5 (Sunday = 1)');
  assert.equal(rd(RtcRegister.DAY_OF_MONTH), 0x26);
  assert.equal(rd(RtcRegister.MONTH), 0x11);
  assert.equal(rd(RtcRegister.YEAR), 0x26);
  assert.equal(rd(RtcRegister.CENTURY), 0x20);
  assert.equal(rd(RtcRegister.STATUS_D), STATUS_D_VRT);
  assert.equal(rd(RtcRegister.STATUS_C), 0);
});

test('binary mode (DM) and 12-hour mode with the PM bit', () => {
  const { rd, wr } = setup();
  wr(RtcRegister.STATUS_B, StatusB.DM_BINARY | StatusB.HOURS_24);
  assert.equal(rd(RtcRegister.MINUTES), 42);
  assert.equal(rd(RtcRegister.HOURS), 19);
  assert.equal(rd(RtcRegister.YEAR), 26);
  wr(RtcRegister.STATUS_B, StatusB.DM_BINARY);
  assert.equal(rd(RtcRegister.HOURS), 0x80 | 7, '7 PM, binary');
  wr(RtcRegister.STATUS_B, 0);
  assert.equal(rd(RtcRegister.HOURS), 0x80 | 0x07, '7 PM, BCD');
});

test('writing time registers moves the clock, which keeps running from there', () => {
  const { rtc, rd, wr, advance } = setup();
  wr(RtcRegister.HOURS, 0x08);
  wr(RtcRegister.MINUTES, 0x30);
  wr(RtcRegister.YEAR, 0x99);
  wr(RtcRegister.CENTURY, 0x19);
  assert.equal(rd(RtcRegister.HOURS), 0x08);
  assert.equal(rd(RtcRegister.MINUTES), 0x30);
  assert.equal(rd(RtcRegister.YEAR), 0x99);
  assert.equal(rd(RtcRegister.CENTURY), 0x19);
  assert.equal(new Date(rtc.guestTimeMs()).toISOString(), '1999-11-26T08:30:07.500Z');
  advance(60_000);
  assert.equal(rd(RtcRegister.MINUTES), 0x31);
});

test('binary-mode and 12-hour writes are decoded per status B', () => {
  const { rtc, wr } = setup();
  wr(RtcRegister.STATUS_B, StatusB.DM_BINARY);
  wr(RtcRegister.HOURS, 0x80 | 12); // 12 PM = noon
  wr(RtcRegister.MINUTES, 5);
  assert.equal(new Date(rtc.guestTimeMs()).toISOString(), '2026-11-26T12:05:07.500Z');
  wr(RtcRegister.HOURS, 12); // 12 AM = midnight
  assert.equal(new Date(rtc.guestTimeMs()).getUTCHours(), 0);
});

test('SET freezes the clock; clearing it starts from the written fields', () => {
  const { rtc, rd, wr, advance } = setup();
  wr(RtcRegister.STATUS_B, StatusB.SET | StatusB.HOURS_24);
  wr(RtcRegister.SECONDS, 0x00);
  wr(RtcRegister.MINUTES, 0x00);
  wr(RtcRegister.HOURS, 0x00);
  wr(RtcRegister.DAY_OF_MONTH, 0x01);
  wr(RtcRegister.MONTH, 0x01);
  wr(RtcRegister.YEAR, 0x30);
  advance(5_000);
  assert.equal(rd(RtcRegister.SECONDS), 0x00, 'frozen while SET');
  wr(RtcRegister.STATUS_B, StatusB.HOURS_24);
  advance(3_000);
  assert.equal(rd(RtcRegister.SECONDS), 0x03);
  assert.equal(new Date(rtc.guestTimeMs()).toISOString(), '2030-01-01T00:00:03.000Z');
});

test('UIP is set only in the last 244 us before a second boundary', () => {
  const { rd, setNow } = setup();
  setNow(Date.UTC(2026, 0, 1, 0, 0, 0, 999) + 0.9);
  assert.equal(rd(RtcRegister.STATUS_A) & StatusA.UIP, StatusA.UIP);
  setNow(Date.UTC(2026, 0, 1, 0, 0, 0, 500));
  assert.equal(rd(RtcRegister.STATUS_A), StatusA.DEFAULT);
});

test('index port: 7-bit index, NMI-disable bit; plain CMOS RAM elsewhere', () => {
  const { rtc, rd, wr } = setup();
  wr(0x40, 0xab);
  assert.equal(rd(0x40, true), 0xab);
  assert.equal(rtc.nmiDisabled(), true);
  assert.equal(rd(0x40), 0xab);
  assert.equal(rtc.nmiDisabled(), false);
  wr(RtcRegister.STATUS_C, 0xff);
  wr(RtcRegister.STATUS_D, 0x00);
  assert.equal(rd(RtcRegister.STATUS_D), STATUS_D_VRT, 'D is read-only');
});

test('save/restore round trip keeps CMOS bytes and the guest time offset', () => {
  const a = setup();
  a.wr(0x10, 0x42);
  a.wr(RtcRegister.YEAR, 0x01);
  const saved = JSON.parse(JSON.stringify(a.rtc.save()));
  const b = setup();
  b.rtc.restore(saved);
  assert.deepEqual(b.rtc.save(), a.rtc.save());
  assert.equal(b.rd(0x10), 0x42);
  assert.equal(b.rd(RtcRegister.YEAR), 0x01);
  assert.throws(() => b.rtc.restore({ ...saved, version: 2 }), /version/);
  assert.throws(() => b.rtc.restore({ ...saved, cmos: [1, 2] }), /cmos/);
  assert.throws(() => b.rtc.restore({ ...saved, offsetMs: Number.NaN }), /offsetMs/);
});

test('register C keeps update/alarm/periodic flags; IRQ 8 fires through the injected timer', async () => {
  const { RecordingIrqLine } = await import('../interrupts.js');
  let now = Date.UTC(2026, 0, 1, 6, 0, 0, 250);
  const irq = new RecordingIrqLine();
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  const rtc = new Rtc({
    nowMs: () => now,
    irq,
    timer: (delay, fn) => {
      const t = { at: now + delay, fn, cancelled: false };
      timers.push(t);
      return () => (t.cancelled = true);
    },
  });
  const rd = (reg: number) => {
    rtc.write(RtcPortOffset.INDEX, Uint8Array.of(reg));
    const d = new Uint8Array(1);
    rtc.read(RtcPortOffset.DATA, d);
    return d[0]!;
  };
  const wr = (reg: number, v: number) => {
    rtc.write(RtcPortOffset.INDEX, Uint8Array.of(reg));
    rtc.write(RtcPortOffset.DATA, Uint8Array.of(v));
  };
  const runTimers = (until: number) => {
    for (;;) {
      const due = timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.cancelled = true;
      now = due.at;
      due.fn();
    }
    now = until;
  };
  wr(RtcRegister.STATUS_A, 0x20); // periodic off
  rd(RtcRegister.STATUS_C);
  now += 1000;
  assert.equal(rd(RtcRegister.STATUS_C), 0x10, 'UF without UIE: flag only, no IRQF');
  assert.equal(irq.pulses, 0);
  assert.equal(timers.filter((t) => !t.cancelled).length, 0, 'nothing enabled, nothing scheduled');

  wr(RtcRegister.STATUS_B, StatusB.HOURS_24 | StatusB.UIE);
  runTimers(now + 1000);
  assert.equal(irq.pulses, 1, 'update interrupt on the next second');
  runTimers(now + 3000);
  assert.equal(irq.pulses, 1, 'no new edge until C is read');
  assert.equal(rd(RtcRegister.STATUS_C), 0x80 | 0x10);
  runTimers(now + 1000);
  assert.equal(irq.pulses, 2);
  rd(RtcRegister.STATUS_C);

  // alarm at 06:00:10 (BCD), hours/minutes as given, AIE only
  wr(RtcRegister.STATUS_B, StatusB.HOURS_24 | StatusB.AIE);
  wr(RtcRegister.HOURS_ALARM, 0x06);
  wr(RtcRegister.MINUTES_ALARM, 0x00);
  wr(RtcRegister.SECONDS_ALARM, 0x10);
  runTimers(Date.UTC(2026, 0, 1, 6, 0, 9, 900));
  assert.equal(irq.pulses, 2);
  runTimers(Date.UTC(2026, 0, 1, 6, 0, 10, 100));
  assert.equal(irq.pulses, 3, 'alarm interrupt');
  assert.equal(rd(RtcRegister.STATUS_C) & 0xa0, 0xa0, 'IRQF | AF');

  // save/restore keeps unacknowledged flags
  runTimers(now + 86_400_000);
  const saved = JSON.parse(JSON.stringify(rtc.save()));
  assert.equal(saved.statusC & 0xa0, 0xa0);
  rtc.dispose();
  assert.ok(timers.every((t) => t.cancelled));
  const irq2 = new RecordingIrqLine();
  const copy = new Rtc({ nowMs: () => now, irq: irq2 });
  copy.restore(saved);
  assert.equal(irq2.pulses, 1, 'pending IRQF re-raised after restore');
});
