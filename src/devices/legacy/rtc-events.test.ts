import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsBetween, isDontCare, nextEventMs, periodicIntervalMs, StatusC } from './rtc-events.js';

const NO_ALARM_MATCH = { hour: 25, minute: 0, second: 0 }; // an hour that never comes
const DAY = Date.UTC(2026, 10, 26); // midnight UTC

test('periodic rates follow the datasheet table', () => {
  assert.equal(periodicIntervalMs(0x20), null);
  assert.equal(periodicIntervalMs(0x21), 1000 / 256);
  assert.equal(periodicIntervalMs(0x22), 1000 / 128);
  assert.equal(periodicIntervalMs(0x23), 1000 / 8192);
  assert.equal(periodicIntervalMs(0x26), 1000 / 1024);
  assert.equal(periodicIntervalMs(0x2f), 500);
});

test('update-ended fires on each second boundary', () => {
  assert.equal(eventsBetween(DAY + 100, DAY + 900, NO_ALARM_MATCH, 0x20), 0);
  assert.equal(eventsBetween(DAY + 900, DAY + 1000, NO_ALARM_MATCH, 0x20), StatusC.UF);
  assert.equal(eventsBetween(DAY + 1000, DAY + 1000, NO_ALARM_MATCH, 0x20), 0, 'empty interval');
});

test('alarm matches hh:mm:ss with don\'t-care fields', () => {
  assert.equal(isDontCare(0xc0), true);
  assert.equal(isDontCare(0x80), false);
  const at = (h: number, m: number, s: number) => DAY + ((h * 60 + m) * 60 + s) * 1000;
  const alarm = { hour: 7, minute: 30, second: 15 };
  assert.equal(eventsBetween(at(7, 30, 14), at(7, 30, 15), alarm, 0x20), StatusC.UF | StatusC.AF);
  assert.equal(eventsBetween(at(7, 30, 15), at(7, 30, 16), alarm, 0x20), StatusC.UF);
  assert.equal(eventsBetween(at(0, 0, 0), at(23, 59, 59), alarm, 0x20) & StatusC.AF, StatusC.AF, 'inside a long gap');
  const everyMinute = { hour: null, minute: null, second: 0 };
  assert.equal(nextEventMs(at(3, 4, 5), StatusC.AF, everyMinute, 0x20), at(3, 5, 0));
  assert.equal(nextEventMs(at(7, 30, 15), StatusC.AF, alarm, 0x20), at(7, 30, 15) + 86_400_000, 'tomorrow');
});

test('next event is the earliest enabled source', () => {
  assert.equal(nextEventMs(DAY + 250, 0, NO_ALARM_MATCH, 0x26), null);
  assert.equal(nextEventMs(DAY + 250, StatusC.UF, NO_ALARM_MATCH, 0x26), DAY + 1000);
  assert.equal(nextEventMs(DAY + 250, StatusC.UF | StatusC.PF, NO_ALARM_MATCH, 0x2f), DAY + 500);
  assert.equal(nextEventMs(DAY + 250, StatusC.PF, NO_ALARM_MATCH, 0x20), null, 'rate 0: no periodic');
  assert.equal(nextEventMs(DAY + 250, StatusC.AF, NO_ALARM_MATCH, 0x20), null, 'an alarm that never matches');
});
