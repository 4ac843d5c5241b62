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
 * Interrupts (periodic, alarm, update-ended) are not generated: register C
 * therefore reads 0 and IRQ 8 is never raised. Linux keeps time from the
 * TSC/kvmclock and reads the RTC only at boot and for hwclock.
 */

import type { BusDevice } from '../bus.js';

export const RtcPortOffset = { INDEX: 0, DATA: 1 } as const;

/** CMOS register indices. */
export const RtcRegister = {
  SECONDS: 0x00,
  MINUTES: 0x02,
  HOURS: 0x04,
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
}

export class Rtc implements BusDevice {
  private readonly nowMs: () => number;
  private readonly cmos = new Uint8Array(CMOS_SIZE);
  private index = 0;
  private nmiMasked = false;
  private offsetMs = 0;
  private frozenMs: number | null = null;

  constructor(options: RtcOptions = {}) {
    this.nowMs = options.nowMs ?? (() => performance.timeOrigin + performance.now());
    this.cmos[RtcRegister.STATUS_A] = StatusA.DEFAULT;
    this.cmos[RtcRegister.STATUS_B] = StatusB.HOURS_24; // BCD, 24-hour: what PC firmware sets up
    this.cmos[RtcRegister.STATUS_D] = STATUS_D_VRT;
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
      case RtcRegister.STATUS_C:
        return 0; // no interrupt flags: this RTC raises no interrupts (see header)
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
        this.writeTimeField(index, value);
        return;
      case RtcRegister.DAY_OF_WEEK:
        return; // derived from the date
      case RtcRegister.STATUS_A:
        this.cmos[index] = value & ~StatusA.UIP; // UIP is read-only
        return;
      case RtcRegister.STATUS_B:
        this.writeStatusB(value);
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
    this.cmos.set(state.cmos);
    this.index = state.index;
    this.nmiMasked = Boolean(state.nmiDisabled);
    this.offsetMs = state.offsetMs;
    this.frozenMs = state.frozenMs;
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
