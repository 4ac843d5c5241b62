/**
 * The MC146818's three interrupt sources, as pure functions of guest time (MC146818A datasheet, "Interrupts"):
 *   - update-ended (UF): once a second, when the time registers advance;
 *   - alarm (AF): at the update where hours, minutes and seconds equal the alarm bytes (a byte with its two top
 *     bits set, 0xC0..0xFF, is "don't care" and matches every value);
 *   - periodic (PF): at the rate selected by status A bits 0..3.
 * `rtc.ts` asks which events happened between two guest instants (flags in register C) and when the next
 * enabled one is due (to raise IRQ 8 on time).
 */

/** Register C bits. */
export const StatusC = {
  IRQF: 0x80,
  PF: 0x40,
  AF: 0x20,
  UF: 0x10,
} as const;

const SECONDS_PER_DAY = 86_400;
const ALARM_DONT_CARE = 0xc0;
const RATE_MASK = 0x0f;

/** The alarm, decoded: null fields are "don't care". */
export interface AlarmTime {
  hour: number | null;
  minute: number | null;
  second: number | null;
}

export function isDontCare(raw: number): boolean {
  return (raw & ALARM_DONT_CARE) === ALARM_DONT_CARE;
}

/**
 * Periodic interrupt period for status A's rate bits, in ms, or null when off (rate 0). With the 32.768 kHz
 * time base, rates 1 and 2 give 256 and 128 Hz and rates 3..15 give 32768 >> (rate - 1) Hz (datasheet Table 3).
 */
export function periodicIntervalMs(statusA: number): number | null {
  const rate = statusA & RATE_MASK;
  if (rate === 0) return null;
  const hz = rate <= 2 ? 512 >> rate : 32768 >> (rate - 1);
  return 1000 / hz;
}

function alarmMatches(alarm: AlarmTime, epochSecond: number): boolean {
  const tod = ((epochSecond % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
  return (
    (alarm.hour === null || alarm.hour === Math.floor(tod / 3600)) &&
    (alarm.minute === null || alarm.minute === Math.floor(tod / 60) % 60) &&
    (alarm.second === null || alarm.second === tod % 60)
  );
}

/** The first whole second in (afterSecond, limitSecond] at which the alarm fires, or null. */
function nextAlarmSecond(alarm: AlarmTime, afterSecond: number, limitSecond: number): number | null {
  // The alarm repeats at least daily, so one day of candidates is enough.
  const last = Math.min(limitSecond, afterSecond + SECONDS_PER_DAY);
  for (let s = afterSecond + 1; s <= last; s++) if (alarmMatches(alarm, s)) return s;
  return null;
}

/** Register C flags (without IRQF) for the events between guest times `fromMs` (exclusive) and `toMs`. */
export function eventsBetween(fromMs: number, toMs: number, alarm: AlarmTime, statusA: number): number {
  if (!(toMs > fromMs)) return 0;
  let flags = 0;
  const fromSecond = Math.floor(fromMs / 1000);
  const toSecond = Math.floor(toMs / 1000);
  if (toSecond > fromSecond) {
    flags |= StatusC.UF;
    if (nextAlarmSecond(alarm, fromSecond, toSecond) !== null) flags |= StatusC.AF;
  }
  const period = periodicIntervalMs(statusA);
  if (period !== null && Math.floor(toMs / period) > Math.floor(fromMs / period)) flags |= StatusC.PF;
  return flags;
}

/** The guest time of the next event among the `enabled` sources (StatusC bits) after `nowMs`, or null. */
export function nextEventMs(nowMs: number, enabled: number, alarm: AlarmTime, statusA: number): number | null {
  const candidates: number[] = [];
  const nowSecond = Math.floor(nowMs / 1000);
  if (enabled & StatusC.UF) candidates.push((nowSecond + 1) * 1000);
  if (enabled & StatusC.AF) {
    const s = nextAlarmSecond(alarm, nowSecond, Number.MAX_SAFE_INTEGER);
    if (s !== null) candidates.push(s * 1000);
  }
  const period = periodicIntervalMs(statusA);
  if (enabled & StatusC.PF && period !== null) candidates.push((Math.floor(nowMs / period) + 1) * period);
  return candidates.length ? Math.min(...candidates) : null;
}
