/**
 * An 8250/16550A UART (the PC's COM ports), as Linux's 8250 driver sees it.
 *
 * Register map (PC16550D datasheet, "Register Summary"; offsets from the base port):
 *   0 RBR (read) / THR (write) / DLL (DLAB=1)   1 IER / DLM (DLAB=1)
 *   2 IIR (read) / FCR (write)                   3 LCR (bit 7 = DLAB)
 *   4 MCR (bit 4 = LOOP)                         5 LSR
 *   6 MSR                                        7 SCR
 *
 * The transmitter is instantaneous: a byte written to THR goes straight to
 * `onOutput`, so THR is always empty again (LSR.THRE and LSR.TEMT stay set).
 *
 * Interrupts. The ISA IRQ of a COM port is edge-triggered on the in-kernel
 * IOAPIC, so the device pulses its line whenever a new interrupt condition
 * becomes pending (THR emptied after a write, input arrived, interrupts newly
 * enabled while a condition holds). Extra edges only cost the guest a spurious
 * interrupt (its handler loops on IIR until "no interrupt pending"); a missed
 * edge would stall it, so the device errs towards pulsing — the same choice
 * Firecracker's and Cloud Hypervisor's serial devices make. Without THRE
 * interrupts Linux's tty layer sends one character and then waits forever.
 */

import type { BusDevice } from '../bus.js';
import type { IrqLine } from '../interrupts.js';

/** Register offsets from the UART's base port. */
export const UartRegister = {
  DATA: 0, // RBR / THR, DLL when DLAB
  IER: 1, // DLM when DLAB
  IIR_FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

/** Interrupt Enable Register bits. */
export const Ier = {
  ERBFI: 0x01, // received data available
  ETBEI: 0x02, // transmitter holding register empty
  ELSI: 0x04, // receiver line status
  EDSSI: 0x08, // modem status
} as const;
const IER_MASK = 0x0f;

/** Interrupt Identification Register values (bits 1..3), highest priority first. */
export const Iir = {
  NO_INTERRUPT: 0x01,
  RECEIVER_LINE_STATUS: 0x06,
  RECEIVED_DATA: 0x04,
  THR_EMPTY: 0x02,
  MODEM_STATUS: 0x00,
  /** Bits 6..7 read as 11 when the FIFOs are enabled (how Linux tells a 16550A). */
  FIFO_ENABLED: 0xc0,
} as const;

/** FIFO Control Register bits. */
export const Fcr = {
  ENABLE_FIFO: 0x01,
  CLEAR_RX: 0x02,
  CLEAR_TX: 0x04,
} as const;

export const Lcr = { DLAB: 0x80 } as const;

/** Modem Control Register bits. */
export const Mcr = {
  DTR: 0x01,
  RTS: 0x02,
  OUT1: 0x04,
  OUT2: 0x08,
  LOOP: 0x10,
} as const;
const MCR_MASK = 0x1f;

/** Line Status Register bits. */
export const Lsr = {
  DATA_READY: 0x01,
  OVERRUN_ERROR: 0x02,
  THR_EMPTY: 0x20,
  TRANSMITTER_EMPTY: 0x40,
} as const;

/** Modem Status Register bits. */
export const Msr = {
  DCTS: 0x01,
  DDSR: 0x02,
  TERI: 0x04,
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;
const MSR_DELTA_MASK = 0x0f;
/** A connected terminal: carrier, data set ready and clear to send (what vm-superio reports too). */
const MSR_CONNECTED = Msr.DCD | Msr.DSR | Msr.CTS;

/** The 16550A receive FIFO depth, used in loopback mode where the guest feeds itself. */
const LOOPBACK_FIFO_SIZE = 16;
/** Default host-side input buffer: how much console input may wait for the guest to read it. */
const DEFAULT_INPUT_CAPACITY = 4096;

export interface Serial8250Options {
  /** The port's interrupt line (COM1: ISA IRQ 4). */
  irq: IrqLine;
  /** Called synchronously with every byte the guest transmits (outside loopback mode). */
  onOutput: (bytes: Uint8Array) => void;
  /** Bytes of host input buffered before `enqueueInput` starts refusing them. */
  inputCapacity?: number;
}

/** Persisted UART state, version 1. */
export interface SerialStateV1 {
  version: 1;
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  /** LSR error bits not yet read (overrun). */
  lsrErrors: number;
  /** MSR delta bits (0..3) not yet read. */
  msrDeltas: number;
  threInterruptPending: boolean;
  /** Bytes waiting in the receive buffer. */
  rx: number[];
  bytesOut: number;
  bytesIn: number;
}

export class Serial8250 implements BusDevice {
  private readonly irq: IrqLine;
  private readonly onOutput: (bytes: Uint8Array) => void;
  private readonly inputCapacity: number;

  private ier = 0;
  private lcr = 0x03; // 8 data bits, no parity, 1 stop bit: the PC BIOS default
  private mcr: number = Mcr.OUT2;
  private scr = 0;
  private dll = 0x0c; // 9600 baud at 1.8432 MHz / 16
  private dlm = 0;
  private fifoEnabled = false;
  private lsrErrors = 0;
  private msrDeltas = 0;
  private threInterruptPending = false;
  private rx: number[] = [];

  /** Bytes the guest transmitted / host bytes the guest read. */
  bytesOut = 0;
  bytesIn = 0;

  constructor(options: Serial8250Options) {
    this.irq = options.irq;
    this.onOutput = options.onOutput;
    this.inputCapacity = options.inputCapacity ?? DEFAULT_INPUT_CAPACITY;
    if (!Number.isInteger(this.inputCapacity) || this.inputCapacity < 1) {
      throw new RangeError(`Serial8250: inputCapacity must be a positive integer, got ${options.inputCapacity}`);
    }
  }

  /**
   * Queues host input (console keystrokes) for the guest. Returns how many
   * bytes were accepted: the rest did not fit and should be offered again
   * once the guest has drained some (`inputSpace()`).
   */
  enqueueInput(bytes: Uint8Array): number {
    if (this.isLoopback()) return 0; // the line is disconnected from the outside in loopback (PC16550D, Modem Control Register bit 4)
    const accepted = Math.min(bytes.length, this.inputSpace());
    if (accepted === 0) return 0;
    for (let i = 0; i < accepted; i++) this.rx.push(bytes[i]!);
    if (this.ier & Ier.ERBFI) this.irq.pulse();
    return accepted;
  }

  /** Free room in the host input buffer. */
  inputSpace(): number {
    return this.isLoopback() ? 0 : Math.max(0, this.inputCapacity - this.rx.length);
  }

  read(offset: number, data: Uint8Array): void {
    // Registers are one byte wide; a wider access reads the register at `offset` into the low byte.
    data.fill(0);
    if (data.length === 0) return;
    data[0] = this.readRegister(offset);
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.writeRegister(offset, data[0]!);
  }

  private isLoopback(): boolean {
    return (this.mcr & Mcr.LOOP) !== 0;
  }

  private dlab(): boolean {
    return (this.lcr & Lcr.DLAB) !== 0;
  }

  private readRegister(offset: number): number {
    switch (offset) {
      case UartRegister.DATA:
        return this.dlab() ? this.dll : this.readReceiveBuffer();
      case UartRegister.IER:
        return this.dlab() ? this.dlm : this.ier;
      case UartRegister.IIR_FCR:
        return this.readInterruptIdentification();
      case UartRegister.LCR:
        return this.lcr;
      case UartRegister.MCR:
        return this.mcr;
      case UartRegister.LSR: {
        const value = this.lineStatus();
        this.lsrErrors = 0; // error bits clear on read (PC16550D, Line Status Register)
        return value;
      }
      case UartRegister.MSR: {
        const value = this.modemStatus();
        this.msrDeltas = 0; // delta bits clear on read
        return value;
      }
      case UartRegister.SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case UartRegister.DATA:
        if (this.dlab()) this.dll = value;
        else this.transmit(value);
        return;
      case UartRegister.IER:
        if (this.dlab()) this.dlm = value;
        else this.writeInterruptEnable(value & IER_MASK);
        return;
      case UartRegister.IIR_FCR:
        this.writeFifoControl(value);
        return;
      case UartRegister.LCR:
        this.lcr = value;
        return;
      case UartRegister.MCR:
        this.writeModemControl(value & MCR_MASK);
        return;
      case UartRegister.LSR:
      case UartRegister.MSR:
        return; // read-only (factory test writes on some parts; ignored)
      case UartRegister.SCR:
        this.scr = value;
        return;
      default:
        return;
    }
  }

  private readReceiveBuffer(): number {
    const byte = this.rx.shift();
    if (byte === undefined) return 0;
    if (!this.isLoopback()) this.bytesIn++;
    return byte;
  }

  private transmit(byte: number): void {
    if (this.isLoopback()) {
      // Loopback (PC16550D, Modem Control Register bit 4): the transmitter feeds the receiver; Linux's probe relies on it.
      if (this.rx.length >= LOOPBACK_FIFO_SIZE) this.lsrErrors |= Lsr.OVERRUN_ERROR;
      else this.rx.push(byte);
      if (this.ier & Ier.ERBFI || (this.lsrErrors && this.ier & Ier.ELSI)) this.irq.pulse();
    } else {
      this.bytesOut++;
      this.onOutput(Uint8Array.of(byte));
    }
    // The byte left THR at once: the transmitter is empty again (new THRE condition).
    this.threInterruptPending = true;
    if (this.ier & Ier.ETBEI) this.irq.pulse();
  }

  private writeInterruptEnable(value: number): void {
    const newlyEnabled = value & ~this.ier;
    this.ier = value;
    // Like real parts, enabling ETBEI while THR is empty raises THRE at once; Linux's startup
    // probe checks for exactly this (serial8250_do_startup, UART_BUG_TXEN).
    if (newlyEnabled & Ier.ETBEI) this.threInterruptPending = true;
    const conditionNowVisible =
      (newlyEnabled & Ier.ETBEI) !== 0 ||
      (newlyEnabled & Ier.ERBFI && this.rx.length > 0) ||
      (newlyEnabled & Ier.ELSI && this.lsrErrors !== 0) ||
      (newlyEnabled & Ier.EDSSI && this.msrDeltas !== 0);
    if (conditionNowVisible) this.irq.pulse();
  }

  private writeFifoControl(value: number): void {
    this.fifoEnabled = (value & Fcr.ENABLE_FIFO) !== 0;
    if (value & Fcr.CLEAR_RX) this.rx = [];
    // CLEAR_TX: the transmit FIFO is always empty here.
  }

  private writeModemControl(value: number): void {
    const before = this.modemStatus() & ~MSR_DELTA_MASK;
    this.mcr = value;
    const after = this.modemStatus() & ~MSR_DELTA_MASK;
    // In loopback the modem inputs follow MCR, so changing MCR changes them (PC16550D, Modem Control Register).
    const changed = before ^ after;
    let deltas = 0;
    if (changed & Msr.CTS) deltas |= Msr.DCTS;
    if (changed & Msr.DSR) deltas |= Msr.DDSR;
    if (before & Msr.RI && !(after & Msr.RI)) deltas |= Msr.TERI; // trailing edge of RI
    if (changed & Msr.DCD) deltas |= Msr.DDCD;
    if (deltas) {
      this.msrDeltas |= deltas;
      if (this.ier & Ier.EDSSI) this.irq.pulse();
    }
  }

  private lineStatus(): number {
    let value = Lsr.THR_EMPTY | Lsr.TRANSMITTER_EMPTY | this.lsrErrors;
    if (this.rx.length > 0) value |= Lsr.DATA_READY;
    return value;
  }

  private modemStatus(): number {
    let inputs: number;
    if (this.isLoopback()) {
      inputs = 0;
      if (this.mcr & Mcr.RTS) inputs |= Msr.CTS;
      if (this.mcr & Mcr.DTR) inputs |= Msr.DSR;
      if (this.mcr & Mcr.OUT1) inputs |= Msr.RI;
      if (this.mcr & Mcr.OUT2) inputs |= Msr.DCD;
    } else {
      inputs = MSR_CONNECTED;
    }
    return inputs | this.msrDeltas;
  }

  /** The highest-priority pending interrupt (PC16550D, Interrupt Control Functions table), or none. */
  private pendingInterrupt(): number {
    if (this.ier & Ier.ELSI && this.lsrErrors !== 0) return Iir.RECEIVER_LINE_STATUS;
    if (this.ier & Ier.ERBFI && this.rx.length > 0) return Iir.RECEIVED_DATA;
    if (this.ier & Ier.ETBEI && this.threInterruptPending) return Iir.THR_EMPTY;
    if (this.ier & Ier.EDSSI && this.msrDeltas !== 0) return Iir.MODEM_STATUS;
    return Iir.NO_INTERRUPT;
  }

  private readInterruptIdentification(): number {
    const pending = this.pendingInterrupt();
    // Reading IIR while it reports THRE clears that condition (PC16550D, Interrupt Control Functions table, "Interrupt Reset Control").
    if (pending === Iir.THR_EMPTY) this.threInterruptPending = false;
    return pending | (this.fifoEnabled ? Iir.FIFO_ENABLED : 0);
  }

  /** Whether the device is currently asserting an interrupt condition (for diagnostics). */
  interruptPending(): boolean {
    return this.pendingInterrupt() !== Iir.NO_INTERRUPT;
  }

  save(): SerialStateV1 {
    return {
      version: 1,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      lsrErrors: this.lsrErrors,
      msrDeltas: this.msrDeltas,
      threInterruptPending: this.threInterruptPending,
      rx: [...this.rx],
      bytesOut: this.bytesOut,
      bytesIn: this.bytesIn,
    };
  }

  /**
   * Restores saved state. Re-raises the interrupt line if a condition is
   * pending, since an edge the guest had not yet taken is not part of the state.
   */
  restore(state: SerialStateV1): void {
    if (state.version !== 1) throw new Error(`Serial8250: unsupported state version ${String(state.version)}`);
    const byteFields = ['ier', 'lcr', 'mcr', 'scr', 'dll', 'dlm', 'lsrErrors', 'msrDeltas'] as const;
    for (const field of byteFields) {
      const v = state[field];
      if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new Error(`Serial8250: state.${field} is not a byte: ${String(v)}`);
    }
    if (!Array.isArray(state.rx) || state.rx.some((b) => !Number.isInteger(b) || b < 0 || b > 0xff)) {
      throw new Error('Serial8250: state.rx must be an array of bytes');
    }
    this.ier = state.ier & IER_MASK;
    this.lcr = state.lcr;
    this.mcr = state.mcr & MCR_MASK;
    this.scr = state.scr;
    this.dll = state.dll;
    this.dlm = state.dlm;
    this.fifoEnabled = Boolean(state.fifoEnabled);
    this.lsrErrors = state.lsrErrors & Lsr.OVERRUN_ERROR;
    this.msrDeltas = state.msrDeltas & MSR_DELTA_MASK;
    this.threInterruptPending = Boolean(state.threInterruptPending);
    this.rx = [...state.rx];
    this.bytesOut = state.bytesOut;
    this.bytesIn = state.bytesIn;
    if (this.interruptPending()) this.irq.pulse();
  }
}
