/**
 * MC146818 CMOS real-time clock and its 128 bytes of CMOS RAM (ports 0x70/0x71).
 *
 * Port 0x70 (offset 0) selects a register: bits 0..6 are the index, bit 7
 * disables NMI on a PC (kept, reported by `nmiDisabled()`, not otherwise
 * modelled). Port 0x71 (offset 1) reads or writes the selected register.
 *
 * Time registers (MC146818A datasheet, "Address Map"): 0x00 seconds, 0x02
 * minutes, 0x04 hours, 0x06 day of week (1 = Sunday), 0x07 day of month, 0x08
 * month, 0x09 year (two digits), and the PC's century byte at 0x32. Alarm
 * bytes 0x01/0x03/0x05 and all other indices are plain CMOS RAM.
 *
 * The clock is the host's UTC wall clock plus an offset. When the guest writes
 * a time register the offset changes so that the clock continues from the
 * written value; while status B.SET is 1 the clock is frozen and the guest may
 * write all fields, and clearing SET starts it from them (datasheet, "SET").
 * Values are BCD unless status B.DM = 1 and 12-hour unless B.24/12 = 1, on read
 * and write alike.
 *
 * Interrupts (rtc-events.ts): the update-ended, alarm and periodic flags in
 * register C are always kept (computed from guest time whenever the guest
 * looks), and IRQF with them. IRQ 8 is raised on time only when the VMM gives
 * both an `irq` line and a `timer` to schedule the next enabled event: the
 * device itself owns no timers. The line is an edge (ISA IRQ 8 on the IOAPIC),
 * pulsed when IRQF goes from 0 to 1; reading register C clears the flags.
 * Periodic interrupts faster than 1 kHz coalesce (the flag is simply set).
 */

import type { BusDevice } from '../bus.js';
import type { IrqLine } from '../interrupts.js';
import { eventsBetween, isDontCare, nextEventMs, StatusC, type AlarmTime } from './rtc-events.js';

export const RtcPortOffset = { INDEX: 0, DATA: 1 } as const;

/** CMOS register indices. */
export const RtcRegister = {
  SECONDS: 0x00,
  SECONDS_ALARM: 0x01,
  MINUTES: 0x02,
  MINUTES_ALARM: 0x03,
  HOURS: 0x04,
  HOURS_ALARM: 0x05,
  DAY_OF_WEEK: 0x06,
  DAY_OF_MONTH: 0x07,
  MONTH: 0x08,
  YEAR: 0x09,
  STATUS_A: 0x0a,
  STATUS_B: 0x0b,
  STATUS_C: 0x0c,
  STATUS_D: 0x0d,
  CENTURY: 0x32,
} as const;

export const StatusA = {
  /** Update in progress: set for 244 µs before each second's update (datasheet "UIP"). */
  UIP: 0x80,
  /** Divider bits 010 (32.768 kHz time base) and rate 0110 (1024 Hz): the PC BIOS default. */
  DEFAULT: 0x26,
} as const;
export const StatusB = {
  SET: 0x80,
  PIE: 0x40,
  AIE: 0x20,
  UIE: 0x10,
  SQWE: 0x08,
  DM_BINARY: 0x04,
  HOURS_24: 0x02,
  DSE: 0x01,
} as const;
/** Register D bit 7: valid RAM and time (the battery is good). */
export const STATUS_D_VRT = 0x80;
const HOUR_PM = 0x80;

const CMOS_SIZE = 128;
const INDEX_MASK = 0x7f;
const NMI_DISABLE = 0x80;
const UIP_WINDOW_MS = 0.244;
/** Shortest delay the device asks its timer for (host timers are not finer; faster periodic rates coalesce). */
const MIN_TIMER_DELAY_MS = 1;
/** Status B enable bits for each register C flag. */
const ENABLE_FOR_FLAG: ReadonlyArray<[number, number]> = [
  [StatusC.PF, 0x40],
  [StatusC.AF, 0x20],
  [StatusC.UF, 0x10],
];

/** Schedules one callback after a delay; returns a function that cancels it. */
export type RtcTimer = (delayMs: number, callback: () => void) => () => void;

/** The clock fields as plain numbers (UTC). */
interface ClockFields {
  second: number;
  minute: number;
  hour: number;
  day: number;
  month: number; // 1..12
  year: number; // full year
}

export interface RtcOptions {
  /** Wall clock in milliseconds since the Unix epoch (fractions allowed); tests inject one. */
  nowMs?: () => number;
  /** IRQ 8 (RTC_IRQ), edge. Without it (or without `timer`) interrupts are flags in register C only. */
  irq?: IrqLine;
  /** How the device asks to be called back when the next enabled event is due. */
  timer?: RtcTimer;
}

/** Persisted RTC state, version 1. */
export interface RtcStateV1 {
  version: 1;
  index: number;
  nmiDisabled: boolean;
  /** All 128 CMOS bytes; the time bytes in it are ignored (the clock is kept as an offset). */
  cmos: number[];
  /** Guest time minus host time in ms. Kept across restore, so the guest clock follows real time. */
  offsetMs: number;
  /** The frozen clock while status B.SET is set, as ms since the epoch. */
  frozenMs: number | null;
  /** Register C flags not yet read by the guest. */
  statusC: number;
  /** Guest time up to which events have been folded into statusC. */
  eventsCheckedUpToMs: number;
}

export class Rtc implements BusDevice {
  private readonly nowMs: () => number;
  private readonly cmos = new Uint8Array(CMOS_SIZE);
  private index = 0;
  private nmiMasked = false;
  private offsetMs = 0;
  private frozenMs: number | null = null;
  private readonly irq: IrqLine | undefined;
  private readonly timer: RtcTimer | undefined;
  private statusC = 0;
  private eventsCheckedUpToMs: number;
  private cancelTimer: (() => void) | null = null;

  constructor(options: RtcOptions = {}) {
    this.nowMs = options.nowMs ?? (() => performance.timeOrigin + performance.now());
    this.irq = options.irq;
    this.timer = options.timer;
    this.cmos[RtcRegister.STATUS_A] = StatusA.DEFAULT;
    this.cmos[RtcRegister.STATUS_B] = StatusB.HOURS_24; // BCD, 24-hour: what PC firmware sets up
    this.cmos[RtcRegister.STATUS_D] = STATUS_D_VRT;
    this.eventsCheckedUpToMs = this.guestTimeMs();
  }

  /** Cancels the pending timer (call when the VM stops). */
  dispose(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  private alarm(): AlarmTime {
    const field = (index: number, isHour: boolean): number | null => {
      const raw = this.cmos[index]!;
      if (isDontCare(raw)) return null;
      return isHour ? this.decodeHour(raw) : this.decode(raw);
    };
    return {
      hour: field(RtcRegister.HOURS_ALARM, true),
      minute: field(RtcRegister.MINUTES_ALARM, false),
      second: field(RtcRegister.SECONDS_ALARM, false),
    };
  }

  /** Flags whose source is enabled in status B. */
  private enabledFlags(): number {
    let enabled = 0;
    for (const [flag, enable] of ENABLE_FOR_FLAG) if (this.statusB() & enable) enabled |= flag;
    return enabled;
  }

  /** Folds the events since the last check into register C and raises IRQ 8 when IRQF turns on. */
  private collectEvents(): void {
    const now = this.guestTimeMs();
    if (this.frozenMs === null) {
      this.statusC |= eventsBetween(this.eventsCheckedUpToMs, now, this.alarm(), this.cmos[RtcRegister.STATUS_A]!);
    }
    this.eventsCheckedUpToMs = now;
    this.updateIrqFlag();
  }

  private updateIrqFlag(): void {
    const hadIrq = (this.statusC & StatusC.IRQF) !== 0;
    if (this.statusC & this.enabledFlags()) this.statusC |= StatusC.IRQF;
    if (!hadIrq && this.statusC & StatusC.IRQF) this.irq?.pulse();
  }

  /** Asks the timer for a callback at the next enabled event (not while IRQF is still unacknowledged). */
  private reschedule(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    if (!this.timer || !this.irq || this.frozenMs !== null || this.statusC & StatusC.IRQF) return;
    const now = this.guestTimeMs();
    const next = nextEventMs(now, this.enabledFlags(), this.alarm(), this.cmos[RtcRegister.STATUS_A]!);
    if (next === null) return;
    this.cancelTimer = this.timer(Math.max(MIN_TIMER_DELAY_MS, next - now), () => {
      this.cancelTimer = null;
      this.collectEvents();
      this.reschedule();
    });
  }

  /** Whether the guest last selected a register with the NMI-disable bit set. */
  nmiDisabled(): boolean {
    return this.nmiMasked;
  }

  /** The guest's idea of the current time, in ms since the epoch. */
  guestTimeMs(): number {
    return this.frozenMs ?? this.nowMs() + this.offsetMs;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (data.length === 0) return;
    if (offset === RtcPortOffset.INDEX) {
      // The index port is write-only on real chipsets; reading returns the last index.
      data[0] = this.index | (this.nmiMasked ? NMI_DISABLE : 0);
    } else if (offset === RtcPortOffset.DATA) {
      data[0] = this.readRegister(this.index);
    } else {
      data.fill(0xff);
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const value = data[0]!;
    if (offset === RtcPortOffset.INDEX) {
      this.index = value & INDEX_MASK;
      this.nmiMasked = (value & NMI_DISABLE) !== 0;
    } else if (offset === RtcPortOffset.DATA) {
      this.writeRegister(this.index, value);
    }
  }

  private statusB(): number {
    return this.cmos[RtcRegister.STATUS_B]!;
  }

  private readRegister(index: number): number {
    switch (index) {
      case RtcRegister.SECONDS:
      case RtcRegister.MINUTES:
      case RtcRegister.HOURS:
      case RtcRegister.DAY_OF_WEEK:
      case RtcRegister.DAY_OF_MONTH:
      case RtcRegister.MONTH:
      case RtcRegister.YEAR:
      case RtcRegister.CENTURY:
        return this.readTimeField(index);
      case RtcRegister.STATUS_A: {
        const ms = this.guestTimeMs();
        const uip = this.frozenMs === null && 1000 - (((ms % 1000) + 1000) % 1000) <= UIP_WINDOW_MS;
        return (this.cmos[index]! & ~StatusA.UIP) | (uip ? StatusA.UIP : 0);
      }
      case RtcRegister.STATUS_C: {
        this.collectEvents();
        const value = this.statusC;
        this.statusC = 0; // reading C acknowledges every flag and IRQF
        this.reschedule();
        return value;
      }
      case RtcRegister.STATUS_D:
        return STATUS_D_VRT;
      default:
        return this.cmos[index]!;
    }
  }

  private writeRegister(index: number, value: number): void {
    switch (index) {
      case RtcRegister.SECONDS:
      case RtcRegister.MINUTES:
      case RtcRegister.HOURS:
      case RtcRegister.DAY_OF_MONTH:
      case RtcRegister.MONTH:
      case RtcRegister.YEAR:
      case RtcRegister.CENTURY:
        this.collectEvents();
        this.writeTimeField(index, value);
        // Setting the clock is not the clock ticking: no events for the jump.
        this.eventsCheckedUpToMs = this.guestTimeMs();
        this.reschedule();
        return;
      case RtcRegister.DAY_OF_WEEK:
        return; // derived from the date
      case RtcRegister.STATUS_A:
        this.collectEvents();
        this.cmos[index] = value & ~StatusA.UIP; // UIP is read-only
        this.reschedule();
        return;
      case RtcRegister.STATUS_B:
        this.collectEvents();
        this.writeStatusB(value);
        this.updateIrqFlag(); // enabling a source whose flag is already set raises IRQF now
        this.reschedule();
        return;
      case RtcRegister.SECONDS_ALARM:
      case RtcRegister.MINUTES_ALARM:
      case RtcRegister.HOURS_ALARM:
        this.collectEvents();
        this.cmos[index] = value;
        this.reschedule();
        return;
      case RtcRegister.STATUS_C:
      case RtcRegister.STATUS_D:
        return; // read-only
      default:
        this.cmos[index] = value;
    }
  }

  private writeStatusB(value: number): void {
    const wasSet = (this.statusB() & StatusB.SET) !== 0;
    const isSet = (value & StatusB.SET) !== 0;
    if (!wasSet && isSet) {
      this.frozenMs = Math.floor(this.guestTimeMs() / 1000) * 1000;
    } else if (wasSet && !isSet && this.frozenMs !== null) {
      this.offsetMs = this.frozenMs - this.nowMs();
      this.frozenMs = null;
      this.eventsCheckedUpToMs = this.guestTimeMs();
    }
    this.cmos[RtcRegister.STATUS_B] = value;
  }

  private encode(value: number): number {
    return this.statusB() & StatusB.DM_BINARY ? value : toBcd(value);
  }

  private decode(value: number): number {
    return this.statusB() & StatusB.DM_BINARY ? value : fromBcd(value);
  }

  private readTimeField(index: number): number {
    const date = new Date(this.guestTimeMs());
    switch (index) {
      case RtcRegister.SECONDS:
        return this.encode(date.getUTCSeconds());
      case RtcRegister.MINUTES:
        return this.encode(date.getUTCMinutes());
      case RtcRegister.HOURS: {
        const hour = date.getUTCHours();
        if (this.statusB() & StatusB.HOURS_24) return this.encode(hour);
        const hour12 = hour % 12 === 0 ? 12 : hour % 12;
        return this.encode(hour12) | (hour >= 12 ? HOUR_PM : 0);
      }
      case RtcRegister.DAY_OF_WEEK:
        return this.encode(date.getUTCDay() + 1);
      case RtcRegister.DAY_OF_MONTH:
        return this.encode(date.getUTCDate());
      case RtcRegister.MONTH:
        return this.encode(date.getUTCMonth() + 1);
      case RtcRegister.YEAR:
        return this.encode(date.getUTCFullYear() % 100);
      default: // CENTURY
        return this.encode(Math.floor(date.getUTCFullYear() / 100));
    }
  }

  private writeTimeField(index: number, raw: number): void {
    const ms = this.guestTimeMs();
    const date = new Date(ms);
    const fields: ClockFields = {
      second: date.getUTCSeconds(),
      minute: date.getUTCMinutes(),
      hour: date.getUTCHours(),
      day: date.getUTCDate(),
      month: date.getUTCMonth() + 1,
      year: date.getUTCFullYear(),
    };
    switch (index) {
      case RtcRegister.SECONDS:
        fields.second = clamp(this.decode(raw), 0, 59);
        break;
      case RtcRegister.MINUTES:
        fields.minute = clamp(this.decode(raw), 0, 59);
        break;
      case RtcRegister.HOURS:
        fields.hour = this.decodeHour(raw);
        break;
      case RtcRegister.DAY_OF_MONTH:
        fields.day = clamp(this.decode(raw), 1, 31);
        break;
      case RtcRegister.MONTH:
        fields.month = clamp(this.decode(raw), 1, 12);
        break;
      case RtcRegister.YEAR:
        fields.year = fields.year - (fields.year % 100) + clamp(this.decode(raw), 0, 99);
        break;
      default: // CENTURY
        fields.year = clamp(this.decode(raw), 0, 99) * 100 + (fields.year % 100);
        break;
    }
    // Keep the sub-second phase when running, so rewriting the same value does not shift the clock.
    const fraction = this.frozenMs === null ? ((ms % 1000) + 1000) % 1000 : 0;
    const newMs = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second) + fraction;
    if (this.frozenMs !== null) this.frozenMs = newMs;
    else this.offsetMs = newMs - this.nowMs();
  }

  private decodeHour(raw: number): number {
    if (this.statusB() & StatusB.HOURS_24) return clamp(this.decode(raw & 0x7f), 0, 23);
    const hour12 = clamp(this.decode(raw & 0x7f), 1, 12) % 12;
    return raw & HOUR_PM ? hour12 + 12 : hour12;
  }

  save(): RtcStateV1 {
    return {
      version: 1,
      index: this.index,
      nmiDisabled: this.nmiMasked,
      cmos: [...this.cmos],
      offsetMs: this.offsetMs,
      frozenMs: this.frozenMs,
      statusC: this.statusC,
      eventsCheckedUpToMs: this.eventsCheckedUpToMs,
    };
  }

  restore(state: RtcStateV1): void {
    if (state.version !== 1) throw new Error(`Rtc: unsupported state version ${String(state.version)}`);
    if (!Array.isArray(state.cmos) || state.cmos.length !== CMOS_SIZE || state.cmos.some((b) => !Number.isInteger(b) || b < 0 || b > 0xff)) {
      throw new Error(`Rtc: state.cmos must be ${CMOS_SIZE} bytes`);
    }
    if (!Number.isInteger(state.index) || state.index < 0 || state.index > INDEX_MASK) {
      throw new Error(`Rtc: state.index out of range: ${String(state.index)}`);
    }
    if (!Number.isFinite(state.offsetMs)) throw new Error('Rtc: state.offsetMs must be a finite number');
    if (state.frozenMs !== null && !Number.isFinite(state.frozenMs)) throw new Error('Rtc: state.frozenMs must be null or a number');
    if (!Number.isInteger(state.statusC) || state.statusC < 0 || state.statusC > 0xff) throw new Error('Rtc: state.statusC must be a byte');
    if (!Number.isFinite(state.eventsCheckedUpToMs)) throw new Error('Rtc: state.eventsCheckedUpToMs must be a finite number');
    this.cmos.set(state.cmos);
    this.index = state.index;
    this.nmiMasked = Boolean(state.nmiDisabled);
    this.offsetMs = state.offsetMs;
    this.frozenMs = state.frozenMs;
    this.statusC = state.statusC & (StatusC.IRQF | StatusC.PF | StatusC.AF | StatusC.UF);
    this.eventsCheckedUpToMs = state.eventsCheckedUpToMs;
    // An IRQF the guest had not acknowledged was an edge already delivered (or lost with the old process):
    // raise it again, then catch up with the events of the time the VM was away.
    if (this.statusC & StatusC.IRQF) this.irq?.pulse();
    this.collectEvents();
    this.reschedule();
  }
}

function toBcd(value: number): number {
  return ((Math.floor(value / 10) % 10) << 4) | value % 10;
}

function fromBcd(value: number): number {
  return (value >> 4) * 10 + (value & 0x0f);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
