/**
 * ACPI fixed hardware (ACPI 6.5 §4.8): the PM1a event and control blocks, the
 * PM timer and the FADT reset register, mapped as one contiguous port range.
 *
 * Port map (constants in src/arch/x86_64/layout.ts, described to the guest by the FADT):
 *   ACPI_PM1A_EVT_BLK + 0  PM1_STS  (16 bit, write 1 to clear, §4.8.4.1.1)
 *   ACPI_PM1A_EVT_BLK + 2  PM1_EN   (16 bit, §4.8.4.1.2)
 *   ACPI_PM1A_CNT_BLK      PM1_CNT  (16 bit, §4.8.4.2.1)
 *   ACPI_PM_TMR_BLK        PM_TMR   (32-bit read, 24 significant bits, 3.579545 MHz, §4.8.4.3)
 *   ACPI_RESET_PORT        reset register (FADT RESET_REG, §4.8.4.6)
 *
 * Register the device with `bus.insert(ACPI_PM_IO_BASE, ACPI_PM_IO_LENGTH, pm)`.
 * Accesses of any width are split into bytes: every register here is
 * byte-decomposable (W1C status, plain enables, SLP_TYP and SLP_EN share the
 * high byte of PM1_CNT, so a 16-bit write acts atomically on them).
 *
 * SCI: the FADT SCI_INT line is level-triggered; it is asserted exactly while
 * an enabled status bit is set (§4.8.3.4), e.g. the power button.
 */

import type { BusDevice } from '../bus.js';
import type { IrqLine } from '../interrupts.js';
import {
  ACPI_PM1A_CNT_BLK,
  ACPI_PM1A_EVT_BLK,
  ACPI_PM_TMR_BLK,
  ACPI_RESET_PORT,
  ACPI_RESET_VALUE,
  ACPI_S5_SLP_TYP,
} from '../../arch/x86_64/layout.js';

/** First port and length of the whole block. */
export const ACPI_PM_IO_BASE = ACPI_PM1A_EVT_BLK;
export const ACPI_PM_IO_LENGTH = ACPI_RESET_PORT + 1 - ACPI_PM1A_EVT_BLK;

/** Byte offsets of each register inside the block. */
export const AcpiPmOffset = {
  PM1_STS: ACPI_PM1A_EVT_BLK - ACPI_PM_IO_BASE,
  PM1_EN: ACPI_PM1A_EVT_BLK + 2 - ACPI_PM_IO_BASE,
  PM1_CNT: ACPI_PM1A_CNT_BLK - ACPI_PM_IO_BASE,
  PM_TMR: ACPI_PM_TMR_BLK - ACPI_PM_IO_BASE,
  RESET: ACPI_RESET_PORT - ACPI_PM_IO_BASE,
} as const;

/** PM1 status / enable bits (ACPI 6.5 Tables 4.11 and 4.12; enable bits share positions). */
export const Pm1Event = {
  TMR: 1 << 0,
  BM: 1 << 4, // status only
  GBL: 1 << 5,
  PWRBTN: 1 << 8,
  SLPBTN: 1 << 9,
  RTC: 1 << 10,
  WAK: 1 << 15, // status only
} as const;
const PM1_STS_MASK = Pm1Event.TMR | Pm1Event.BM | Pm1Event.GBL | Pm1Event.PWRBTN | Pm1Event.SLPBTN | Pm1Event.RTC | Pm1Event.WAK;
const PM1_EN_MASK = Pm1Event.TMR | Pm1Event.GBL | Pm1Event.PWRBTN | Pm1Event.SLPBTN | Pm1Event.RTC;

/** PM1 control bits (ACPI 6.5 Table 4.13). */
export const Pm1Control = {
  SCI_EN: 1 << 0,
  BM_RLD: 1 << 1,
  GBL_RLS: 1 << 2,
  SLP_TYP_SHIFT: 10,
  SLP_TYP_MASK: 0x7 << 10,
  SLP_EN: 1 << 13,
} as const;
/** Bits that hold a value (SLP_EN is write-only and reads as 0; GBL_RLS is write-only too). */
const PM1_CNT_STORED = Pm1Control.BM_RLD | Pm1Control.SLP_TYP_MASK;

/** PM timer frequency (ACPI 6.5 §4.8.4.3) and width (FADT TMR_VAL_EXT = 0: 24 bits). */
export const PM_TIMER_HZ = 3_579_545;
const PM_TIMER_MASK = 0xff_ffff;
const PM_TIMER_MSB = 1 << 23;

export interface AcpiPmOptions {
  /** The SCI (FADT SCI_INT, ACPI_SCI_IRQ), level-triggered. */
  sci: IrqLine;
  /** SLP_EN written with SLP_TYP == ACPI_S5_SLP_TYP: soft power off. */
  onPowerOff: () => void;
  /** ACPI_RESET_VALUE written to the reset register. */
  onReset: () => void;
  /** Monotonic clock in nanoseconds (tests inject one). */
  monotonicNs?: () => bigint;
}

/** Persisted ACPI PM state, version 1. */
export interface AcpiPmStateV1 {
  version: 1;
  pm1Status: number;
  pm1Enable: number;
  pm1Control: number;
  /** The PM timer value when saved: it continues from here after restore. */
  timer: number;
}

export class AcpiPm implements BusDevice {
  private readonly sci: IrqLine;
  private readonly onPowerOff: () => void;
  private readonly onReset: () => void;
  private readonly monotonicNs: () => bigint;

  private pm1Status = 0;
  private pm1Enable = 0;
  private pm1Control = 0;
  /** Timer ticks added to the clock-derived count (set by restore so the count continues). */
  private timerBase = 0n;
  /** Timer bit 23 as last observed, to latch TMR_STS when it toggles (§4.8.4.3). */
  private lastTimerMsb = 0;
  private sciAsserted = false;

  constructor(options: AcpiPmOptions) {
    this.sci = options.sci;
    this.onPowerOff = options.onPowerOff;
    this.onReset = options.onReset;
    this.monotonicNs = options.monotonicNs ?? (() => process.hrtime.bigint());
    this.lastTimerMsb = this.timerValue() & PM_TIMER_MSB;
  }

  /** Presses the fixed power button (§4.8.3.1.1.1): the guest's ACPI driver sees PWRBTN_STS and shuts down. */
  pressPowerButton(): void {
    this.pm1Status |= Pm1Event.PWRBTN;
    this.updateSci();
  }

  /** Whether the SCI is asserted now. */
  sciLevel(): boolean {
    return this.sciAsserted;
  }

  /** The current 24-bit PM timer count. */
  timerValue(): number {
    const ticks = (this.monotonicNs() * BigInt(PM_TIMER_HZ)) / 1_000_000_000n + this.timerBase;
    return Number(ticks & BigInt(PM_TIMER_MASK));
  }

  read(offset: number, data: Uint8Array): void {
    this.latchTimerStatus();
    const timer = this.timerValue();
    for (let i = 0; i < data.length; i++) data[i] = this.readByte(offset + i, timer);
  }

  write(offset: number, data: Uint8Array): void {
    this.latchTimerStatus();
    // PM1_CNT is handled as a whole when both of its bytes are written, so SLP_TYP and SLP_EN act together.
    for (let i = 0; i < data.length; i++) this.writeByte(offset + i, data[i]!);
    this.updateSci();
  }

  private readByte(offset: number, timer: number): number {
    switch (offset) {
      case AcpiPmOffset.PM1_STS:
      case AcpiPmOffset.PM1_STS + 1:
        return byteOf(this.pm1Status, offset - AcpiPmOffset.PM1_STS);
      case AcpiPmOffset.PM1_EN:
      case AcpiPmOffset.PM1_EN + 1:
        return byteOf(this.pm1Enable, offset - AcpiPmOffset.PM1_EN);
      case AcpiPmOffset.PM1_CNT:
      case AcpiPmOffset.PM1_CNT + 1:
        // SCI_EN reads as 1: there is no SMI_CMD (FADT SMI_CMD = 0), so the OS owns ACPI from boot (§4.8.3.4).
        return byteOf(this.pm1Control | Pm1Control.SCI_EN, offset - AcpiPmOffset.PM1_CNT);
      case AcpiPmOffset.PM_TMR:
      case AcpiPmOffset.PM_TMR + 1:
      case AcpiPmOffset.PM_TMR + 2:
      case AcpiPmOffset.PM_TMR + 3:
        return byteOf(timer, offset - AcpiPmOffset.PM_TMR);
      default:
        return 0xff; // the reset register is write-only; gaps read as an empty bus
    }
  }

  private writeByte(offset: number, value: number): void {
    switch (offset) {
      case AcpiPmOffset.PM1_STS:
      case AcpiPmOffset.PM1_STS + 1: {
        const bits = (value << (8 * (offset - AcpiPmOffset.PM1_STS))) & PM1_STS_MASK;
        this.pm1Status &= ~bits; // write 1 to clear (§4.8.4.1.1)
        return;
      }
      case AcpiPmOffset.PM1_EN:
      case AcpiPmOffset.PM1_EN + 1:
        this.pm1Enable = setByte(this.pm1Enable, offset - AcpiPmOffset.PM1_EN, value) & PM1_EN_MASK;
        return;
      case AcpiPmOffset.PM1_CNT:
      case AcpiPmOffset.PM1_CNT + 1:
        this.writeControlByte(offset - AcpiPmOffset.PM1_CNT, value);
        return;
      case AcpiPmOffset.RESET:
        if (value === ACPI_RESET_VALUE) this.onReset();
        return;
      default:
        return; // PM_TMR is read-only
    }
  }

  private writeControlByte(byteIndex: number, value: number): void {
    const written = setByte(this.pm1Control, byteIndex, value);
    this.pm1Control = written & PM1_CNT_STORED;
    if (byteIndex === 1 && written & Pm1Control.SLP_EN) {
      const sleepType = (written & Pm1Control.SLP_TYP_MASK) >> Pm1Control.SLP_TYP_SHIFT;
      // Only S5 (soft off) is offered by our DSDT; other sleep states are not supported and ignored.
      if (sleepType === ACPI_S5_SLP_TYP) this.onPowerOff();
    }
  }

  /** TMR_STS is set whenever timer bit 23 toggles (§4.8.4.3); observed on each access. */
  private latchTimerStatus(): void {
    const msb = this.timerValue() & PM_TIMER_MSB;
    if (msb !== this.lastTimerMsb) {
      this.lastTimerMsb = msb;
      this.pm1Status |= Pm1Event.TMR;
    }
  }

  private updateSci(): void {
    const asserted = (this.pm1Status & this.pm1Enable) !== 0;
    if (asserted !== this.sciAsserted) {
      this.sciAsserted = asserted;
      this.sci.setLevel(asserted);
    }
  }

  save(): AcpiPmStateV1 {
    this.latchTimerStatus();
    return {
      version: 1,
      pm1Status: this.pm1Status,
      pm1Enable: this.pm1Enable,
      pm1Control: this.pm1Control,
      timer: this.timerValue(),
    };
  }

  restore(state: AcpiPmStateV1): void {
    if (state.version !== 1) throw new Error(`AcpiPm: unsupported state version ${String(state.version)}`);
    for (const field of ['pm1Status', 'pm1Enable', 'pm1Control'] as const) {
      const v = state[field];
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`AcpiPm: state.${field} is not a 16-bit value: ${String(v)}`);
    }
    if (!Number.isInteger(state.timer) || state.timer < 0 || state.timer > PM_TIMER_MASK) {
      throw new Error(`AcpiPm: state.timer is not a 24-bit value: ${String(state.timer)}`);
    }
    this.pm1Status = state.pm1Status & PM1_STS_MASK;
    this.pm1Enable = state.pm1Enable & PM1_EN_MASK;
    this.pm1Control = state.pm1Control & PM1_CNT_STORED;
    this.timerBase = 0n;
    const clockTicks = BigInt(this.timerValue());
    this.timerBase = (BigInt(state.timer) - clockTicks) & BigInt(PM_TIMER_MASK);
    this.lastTimerMsb = this.timerValue() & PM_TIMER_MSB;
    // Drive the line from the restored state whatever it was before.
    this.sciAsserted = (this.pm1Status & this.pm1Enable) !== 0;
    this.sci.setLevel(this.sciAsserted);
  }
}

function byteOf(value: number, index: number): number {
  return (value >>> (8 * index)) & 0xff;
}

function setByte(value: number, index: number, byte: number): number {
  const shift = 8 * index;
  return (value & ~(0xff << shift)) | ((byte & 0xff) << shift);
}
