import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingIrqLine } from '../interrupts.js';
import { ACPI_PM1A_CNT_BLK, ACPI_PM_TMR_BLK, ACPI_RESET_PORT, ACPI_RESET_VALUE, ACPI_S5_SLP_TYP } from '../../arch/x86_64/layout.js';
import { ACPI_PM_IO_BASE, ACPI_PM_IO_LENGTH, AcpiPm, AcpiPmOffset, Pm1Control, Pm1Event, PM_TIMER_HZ } from './acpi-pm.js';

function setup(startNs = 0n) {
  const sci = new RecordingIrqLine();
  let nowNs = startNs;
  const events: string[] = [];
  const pm = new AcpiPm({
    sci,
    onPowerOff: () => events.push('poweroff'),
    onReset: () => events.push('reset'),
    monotonicNs: () => nowNs,
  });
  const rd = (offset: number, size: number) => {
    const d = new Uint8Array(size);
    pm.read(offset, d);
    return d.reduce((acc, b, i) => acc + b * 2 ** (8 * i), 0);
  };
  const wr = (offset: number, size: number, value: number) => {
    const d = new Uint8Array(size);
    for (let i = 0; i < size; i++) d[i] = (value >>> (8 * i)) & 0xff;
    pm.write(offset, d);
  };
  return { pm, sci, events, rd, wr, advance: (ns: bigint) => (nowNs += ns) };
}

test('the block covers PM1a event, control, timer and reset ports from layout.ts', () => {
  assert.equal(ACPI_PM_IO_BASE + AcpiPmOffset.PM1_CNT, ACPI_PM1A_CNT_BLK);
  assert.equal(ACPI_PM_IO_BASE + AcpiPmOffset.PM_TMR, ACPI_PM_TMR_BLK);
  assert.equal(ACPI_PM_IO_BASE + AcpiPmOffset.RESET, ACPI_RESET_PORT);
  assert.equal(ACPI_PM_IO_BASE + ACPI_PM_IO_LENGTH - 1, ACPI_RESET_PORT);
});

test('SCI_EN reads as 1; SLP_EN with SLP_TYP=S5 powers off, other sleep types do not', () => {
  const { rd, wr, events } = setup();
  assert.equal(rd(AcpiPmOffset.PM1_CNT, 2) & Pm1Control.SCI_EN, Pm1Control.SCI_EN);
  wr(AcpiPmOffset.PM1_CNT, 2, (3 << Pm1Control.SLP_TYP_SHIFT) | Pm1Control.SLP_EN);
  assert.deepEqual(events, []);
  wr(AcpiPmOffset.PM1_CNT, 2, ACPI_S5_SLP_TYP << Pm1Control.SLP_TYP_SHIFT);
  assert.deepEqual(events, [], 'SLP_TYP alone does nothing');
  assert.equal(rd(AcpiPmOffset.PM1_CNT, 2), (ACPI_S5_SLP_TYP << Pm1Control.SLP_TYP_SHIFT) | Pm1Control.SCI_EN);
  wr(AcpiPmOffset.PM1_CNT, 2, (ACPI_S5_SLP_TYP << Pm1Control.SLP_TYP_SHIFT) | Pm1Control.SLP_EN);
  assert.deepEqual(events, ['poweroff']);
  assert.equal(rd(AcpiPmOffset.PM1_CNT, 2) & Pm1Control.SLP_EN, 0, 'SLP_EN is write-only');
  // Linux writes the high byte alone in some paths: same effect.
  wr(AcpiPmOffset.PM1_CNT + 1, 1, ((ACPI_S5_SLP_TYP << Pm1Control.SLP_TYP_SHIFT) | Pm1Control.SLP_EN) >> 8);
  assert.deepEqual(events, ['poweroff', 'poweroff']);
});

test('reset register: only ACPI_RESET_VALUE resets; it reads as an empty bus', () => {
  const { rd, wr, events } = setup();
  wr(AcpiPmOffset.RESET, 1, ACPI_RESET_VALUE ^ 0xff);
  assert.deepEqual(events, []);
  wr(AcpiPmOffset.RESET, 1, ACPI_RESET_VALUE);
  assert.deepEqual(events, ['reset']);
  assert.equal(rd(AcpiPmOffset.RESET, 1), 0xff);
});

test('power button raises the SCI only when PWRBTN_EN; write-1-to-clear deasserts it', () => {
  const { pm, sci, rd, wr } = setup();
  pm.pressPowerButton();
  assert.equal(rd(AcpiPmOffset.PM1_STS, 2) & Pm1Event.PWRBTN, Pm1Event.PWRBTN);
  assert.equal(sci.level, false, 'not enabled: no SCI');
  wr(AcpiPmOffset.PM1_EN, 2, Pm1Event.PWRBTN);
  assert.equal(sci.level, true);
  assert.equal(pm.sciLevel(), true);
  wr(AcpiPmOffset.PM1_STS, 2, Pm1Event.GBL); // clearing another bit leaves it
  assert.equal(sci.level, true);
  wr(AcpiPmOffset.PM1_STS, 2, Pm1Event.PWRBTN);
  assert.equal(sci.level, false);
  assert.equal(rd(AcpiPmOffset.PM1_STS, 2) & Pm1Event.PWRBTN, 0);
  pm.pressPowerButton();
  assert.equal(sci.level, true);
  assert.equal(sci.raises, 2);
  wr(AcpiPmOffset.PM1_EN, 2, 0);
  assert.equal(sci.level, false, 'disabling the enable bit deasserts');
});

test('PM timer counts at 3.579545 MHz, wraps at 24 bits and latches TMR_STS on bit 23 toggles', () => {
  const { rd, wr, advance } = setup();
  assert.equal(rd(AcpiPmOffset.PM_TMR, 4), 0);
  advance(1_000_000_000n);
  assert.equal(rd(AcpiPmOffset.PM_TMR, 4), PM_TIMER_HZ);
  assert.equal(rd(AcpiPmOffset.PM1_STS, 2) & Pm1Event.TMR, 0);
  advance(2_000_000_000n); // 3 s = 10.7 M ticks: bit 23 (8.4 M) has flipped
  assert.equal(rd(AcpiPmOffset.PM1_STS, 2) & Pm1Event.TMR, Pm1Event.TMR);
  wr(AcpiPmOffset.PM1_STS, 2, Pm1Event.TMR);
  assert.equal(rd(AcpiPmOffset.PM1_STS, 2) & Pm1Event.TMR, 0);
  advance(2_000_000_000n); // 5 s = 17.9 M ticks: wrapped
  assert.equal(rd(AcpiPmOffset.PM_TMR, 4), (5 * PM_TIMER_HZ) % 2 ** 24);
  assert.equal(rd(AcpiPmOffset.PM_TMR + 3, 1), 0, 'upper byte of the 24-bit timer is 0');
  wr(AcpiPmOffset.PM_TMR, 4, 0);
  assert.equal(rd(AcpiPmOffset.PM_TMR, 4), (5 * PM_TIMER_HZ) % 2 ** 24, 'timer is read-only');
});

test('save/restore: registers round trip, the timer continues from the saved count, SCI re-driven', () => {
  const a = setup(123_456_789n);
  a.wr(AcpiPmOffset.PM1_EN, 2, Pm1Event.PWRBTN);
  a.pm.pressPowerButton();
  a.wr(AcpiPmOffset.PM1_CNT, 2, 2 << Pm1Control.SLP_TYP_SHIFT);
  const saved = JSON.parse(JSON.stringify(a.pm.save()));
  const b = setup(999_000_000_000n); // a different host clock
  b.pm.restore(saved);
  assert.equal(b.sci.level, true);
  assert.equal(b.rd(AcpiPmOffset.PM_TMR, 4), saved.timer);
  b.advance(1_000_000n);
  assert.equal(b.rd(AcpiPmOffset.PM_TMR, 4), (saved.timer + 3579) % 2 ** 24);
  assert.equal(b.rd(AcpiPmOffset.PM1_CNT, 2), (2 << Pm1Control.SLP_TYP_SHIFT) | Pm1Control.SCI_EN);
  assert.throws(() => b.pm.restore({ ...saved, version: 9 }), /version/);
  assert.throws(() => b.pm.restore({ ...saved, timer: 2 ** 24 }), /timer/);
  assert.throws(() => b.pm.restore({ ...saved, pm1Enable: 0x10000 }), /pm1Enable/);
});
