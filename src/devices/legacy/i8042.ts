/**
 * The i8042 keyboard controller, with no keyboard or mouse attached.
 *
 * Enough of the controller for Linux's i8042 driver to probe it without
 * stalling (drivers/input/serio/i8042.c: flush, self-test, command byte, AUX
 * loopback and IRQ test, interface tests), and the CPU reset line that
 * `reboot=k` (Linux's default fallback) pulses with command 0xFE.
 *
 * Ports (layout.ts): data I8042_DATA_PORT (0x60), status/command
 * I8042_COMMAND_PORT (0x64). Map either
 *   - the two one-port adapters: `bus.insert(0x60, 1, kbc.dataPort)` and `bus.insert(0x64, 1, kbc.commandPort)`
 *     (this leaves 0x61..0x63 free, e.g. for the PIT speaker port that KVM's in-kernel PIT handles), or
 *   - the controller itself over 0x60..0x64 (offset 0 = data, offset 4 = status/command).
 *
 * Bytes sent to the absent keyboard or mouse are answered at once with 0xFE
 * and the TIMEOUT status bit, the way a controller reports a device that did
 * not respond, so libps2 gives up immediately instead of waiting for its
 * timeouts. Bytes placed in the output buffer raise the keyboard (IRQ 1) or
 * AUX (IRQ 12) line when the command byte enables that interrupt.
 */

import type { BusDevice } from '../bus.js';
import type { IrqLine } from '../interrupts.js';
import { I8042_COMMAND_PORT, I8042_DATA_PORT } from '../../arch/x86_64/layout.js';

export const I8042PortOffset = {
  DATA: 0,
  STATUS_COMMAND: I8042_COMMAND_PORT - I8042_DATA_PORT,
} as const;

/** Status register bits. */
export const I8042Status = {
  OUTPUT_FULL: 0x01,
  INPUT_FULL: 0x02,
  SYSTEM_FLAG: 0x04,
  LAST_WRITE_WAS_COMMAND: 0x08,
  NOT_INHIBITED: 0x10,
  AUX_DATA: 0x20,
  TIMEOUT: 0x40,
  PARITY_ERROR: 0x80,
} as const;

/** Controller command byte ("CTR", RAM byte 0) bits. */
export const I8042Ctr = {
  KBD_INT: 0x01,
  AUX_INT: 0x02,
  SYSTEM_FLAG: 0x04,
  KBD_DISABLE: 0x10,
  AUX_DISABLE: 0x20,
  XLATE: 0x40,
} as const;

/** Controller commands written to the command port. */
export const I8042Command = {
  READ_RAM_FIRST: 0x20, // 0x20 reads the CTR, 0x21..0x3f the rest of RAM
  WRITE_RAM_FIRST: 0x60, // 0x60 writes the CTR, 0x61..0x7f the rest of RAM
  AUX_DISABLE: 0xa7,
  AUX_ENABLE: 0xa8,
  AUX_TEST: 0xa9,
  SELF_TEST: 0xaa,
  KBD_TEST: 0xab,
  KBD_DISABLE: 0xad,
  KBD_ENABLE: 0xae,
  READ_OUTPUT_PORT: 0xd0,
  WRITE_OUTPUT_PORT: 0xd1,
  WRITE_KBD_OUTPUT: 0xd2,
  WRITE_AUX_OUTPUT: 0xd3, // the "AUX loopback" Linux uses to test the AUX port and its IRQ
  WRITE_AUX_DEVICE: 0xd4,
  PULSE_FIRST: 0xf0, // 0xf0..0xff pulse output-port bits 0..3 low where the command's bit is 0
  RESET_CPU: 0xfe,
} as const;

export const SELF_TEST_PASSED = 0x55;
export const INTERFACE_TEST_PASSED = 0x00;
/** What a controller reports for a device that did not answer (with the TIMEOUT status bit). */
export const NO_DEVICE_RESPONSE = 0xfe;

/** Output port bits: bit 0 is the CPU reset line (active low), bit 1 the A20 gate. */
const OUTPUT_PORT_RESET_LINE = 0x01;
const OUTPUT_PORT_DEFAULT = 0x03;
const RAM_SIZE = 32;
/** Bytes the output queue holds before dropping (a real controller holds one; responses are at most 2). */
const OUTPUT_QUEUE_LIMIT = 16;
/** PC firmware leaves keyboard interrupts, the system flag and scancode translation on, the AUX port off. */
const CTR_DEFAULT = I8042Ctr.KBD_INT | I8042Ctr.SYSTEM_FLAG | I8042Ctr.XLATE | I8042Ctr.AUX_DISABLE;

interface OutputByte {
  value: number;
  aux: boolean;
  timeout: boolean;
}

export interface I8042Options {
  /** Called when the guest pulls the CPU reset line (command 0xFE, or output port bit 0 written as 0). */
  onReset: () => void;
  /** Keyboard port interrupt (ISA IRQ 1); omit to leave the controller polled only. */
  kbdIrq?: IrqLine;
  /** AUX port interrupt (ISA IRQ 12). */
  auxIrq?: IrqLine;
}

/** Persisted controller state, version 1. */
export interface I8042StateV1 {
  version: 1;
  ram: number[];
  outputPort: number;
  pendingCommand: number | null;
  lastWriteWasCommand: boolean;
  lastOutput: number;
  output: Array<{ value: number; aux: boolean; timeout: boolean }>;
}

export class I8042 implements BusDevice {
  /** One-port adapter for I8042_DATA_PORT. */
  readonly dataPort: BusDevice;
  /** One-port adapter for I8042_COMMAND_PORT. */
  readonly commandPort: BusDevice;

  private readonly onReset: () => void;
  private readonly kbdIrq: IrqLine | undefined;
  private readonly auxIrq: IrqLine | undefined;
  private ram = new Uint8Array(RAM_SIZE);
  private outputPort = OUTPUT_PORT_DEFAULT;
  /** A command waiting for its data byte on the data port. */
  private pendingCommand: number | null = null;
  private lastWriteWasCommand = false;
  private output: OutputByte[] = [];
  /** Reading an empty output buffer returns the last byte again, as the hardware does. */
  private lastOutput = 0;

  constructor(options: I8042Options) {
    this.onReset = options.onReset;
    this.kbdIrq = options.kbdIrq;
    this.auxIrq = options.auxIrq;
    this.ram[0] = CTR_DEFAULT;
    this.dataPort = {
      read: (_offset, data) => this.read(I8042PortOffset.DATA, data),
      write: (_offset, data) => this.write(I8042PortOffset.DATA, data),
    };
    this.commandPort = {
      read: (_offset, data) => this.read(I8042PortOffset.STATUS_COMMAND, data),
      write: (_offset, data) => this.write(I8042PortOffset.STATUS_COMMAND, data),
    };
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (data.length === 0) return;
    if (offset === I8042PortOffset.DATA) data[0] = this.readData();
    else if (offset === I8042PortOffset.STATUS_COMMAND) data[0] = this.status();
    else data.fill(0xff);
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (offset === I8042PortOffset.DATA) this.writeData(data[0]!);
    else if (offset === I8042PortOffset.STATUS_COMMAND) this.writeCommand(data[0]!);
  }

  private ctr(): number {
    return this.ram[0]!;
  }

  private status(): number {
    const head = this.output[0];
    let value = I8042Status.NOT_INHIBITED;
    if (this.ctr() & I8042Ctr.SYSTEM_FLAG) value |= I8042Status.SYSTEM_FLAG;
    if (this.lastWriteWasCommand) value |= I8042Status.LAST_WRITE_WAS_COMMAND;
    if (head) {
      value |= I8042Status.OUTPUT_FULL;
      if (head.aux) value |= I8042Status.AUX_DATA;
      if (head.timeout) value |= I8042Status.TIMEOUT;
    }
    return value;
  }

  private readData(): number {
    const head = this.output.shift();
    if (!head) return this.lastOutput;
    this.lastOutput = head.value;
    const next = this.output[0];
    if (next) this.raiseFor(next);
    return head.value;
  }

  private pushOutput(value: number, aux: boolean, timeout = false): void {
    if (this.output.length >= OUTPUT_QUEUE_LIMIT) return; // the guest is not reading: drop, as the hardware would
    const entry = { value: value & 0xff, aux, timeout };
    this.output.push(entry);
    if (this.output.length === 1) this.raiseFor(entry);
  }

  private raiseFor(entry: OutputByte): void {
    if (entry.aux) {
      if (this.ctr() & I8042Ctr.AUX_INT) this.auxIrq?.pulse();
    } else if (this.ctr() & I8042Ctr.KBD_INT) {
      this.kbdIrq?.pulse();
    }
  }

  private writeCommand(command: number): void {
    this.lastWriteWasCommand = true;
    this.pendingCommand = null;
    if (command >= I8042Command.READ_RAM_FIRST && command < I8042Command.READ_RAM_FIRST + RAM_SIZE) {
      this.pushOutput(this.ram[command - I8042Command.READ_RAM_FIRST]!, false);
      return;
    }
    if (command >= I8042Command.WRITE_RAM_FIRST && command < I8042Command.WRITE_RAM_FIRST + RAM_SIZE) {
      this.pendingCommand = command;
      return;
    }
    if (command >= I8042Command.PULSE_FIRST) {
      // Bits 0..3 of the command select output-port lines to pulse low (0 = pulse); bit 0 is CPU reset.
      if ((command & OUTPUT_PORT_RESET_LINE) === 0) this.onReset();
      return;
    }
    switch (command) {
      case I8042Command.AUX_DISABLE:
        this.ram[0] = this.ctr() | I8042Ctr.AUX_DISABLE;
        return;
      case I8042Command.AUX_ENABLE:
        this.ram[0] = this.ctr() & ~I8042Ctr.AUX_DISABLE;
        return;
      case I8042Command.AUX_TEST:
      case I8042Command.KBD_TEST:
        this.pushOutput(INTERFACE_TEST_PASSED, false);
        return;
      case I8042Command.SELF_TEST:
        this.ram[0] = this.ctr() | I8042Ctr.SYSTEM_FLAG;
        this.pushOutput(SELF_TEST_PASSED, false);
        return;
      case I8042Command.KBD_DISABLE:
        this.ram[0] = this.ctr() | I8042Ctr.KBD_DISABLE;
        return;
      case I8042Command.KBD_ENABLE:
        this.ram[0] = this.ctr() & ~I8042Ctr.KBD_DISABLE;
        return;
      case I8042Command.READ_OUTPUT_PORT:
        this.pushOutput(this.outputPort, false);
        return;
      case I8042Command.WRITE_OUTPUT_PORT:
      case I8042Command.WRITE_KBD_OUTPUT:
      case I8042Command.WRITE_AUX_OUTPUT:
      case I8042Command.WRITE_AUX_DEVICE:
        this.pendingCommand = command;
        return;
      default:
        return; // vendor and obsolete commands: ignored, like a controller that lacks them
    }
  }

  private writeData(value: number): void {
    this.lastWriteWasCommand = false;
    const command = this.pendingCommand;
    this.pendingCommand = null;
    if (command === null) {
      // A byte for the keyboard, which is absent: report the device timeout.
      this.pushOutput(NO_DEVICE_RESPONSE, false, true);
      return;
    }
    if (command >= I8042Command.WRITE_RAM_FIRST && command < I8042Command.WRITE_RAM_FIRST + RAM_SIZE) {
      this.ram[command - I8042Command.WRITE_RAM_FIRST] = value;
      return;
    }
    switch (command) {
      case I8042Command.WRITE_OUTPUT_PORT:
        this.outputPort = value;
        if ((value & OUTPUT_PORT_RESET_LINE) === 0) this.onReset();
        return;
      case I8042Command.WRITE_KBD_OUTPUT:
        this.pushOutput(value, false);
        return;
      case I8042Command.WRITE_AUX_OUTPUT:
        this.pushOutput(value, true);
        return;
      case I8042Command.WRITE_AUX_DEVICE:
        this.pushOutput(NO_DEVICE_RESPONSE, true, true);
        return;
      default:
        return;
    }
  }

  save(): I8042StateV1 {
    return {
      version: 1,
      ram: [...this.ram],
      outputPort: this.outputPort,
      pendingCommand: this.pendingCommand,
      lastWriteWasCommand: this.lastWriteWasCommand,
      lastOutput: this.lastOutput,
      output: this.output.map((o) => ({ ...o })),
    };
  }

  restore(state: I8042StateV1): void {
    if (state.version !== 1) throw new Error(`I8042: unsupported state version ${String(state.version)}`);
    const isByte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xff;
    if (!Array.isArray(state.ram) || state.ram.length !== RAM_SIZE || !state.ram.every(isByte)) {
      throw new Error(`I8042: state.ram must be ${RAM_SIZE} bytes`);
    }
    if (!isByte(state.outputPort) || !isByte(state.lastOutput)) throw new Error('I8042: state.outputPort/lastOutput must be bytes');
    if (state.pendingCommand !== null && !isByte(state.pendingCommand)) throw new Error('I8042: state.pendingCommand must be a byte or null');
    if (!Array.isArray(state.output) || state.output.length > OUTPUT_QUEUE_LIMIT || !state.output.every((o) => isByte(o.value))) {
      throw new Error('I8042: state.output is malformed');
    }
    this.ram = Uint8Array.from(state.ram);
    this.outputPort = state.outputPort;
    this.pendingCommand = state.pendingCommand;
    this.lastWriteWasCommand = Boolean(state.lastWriteWasCommand);
    this.lastOutput = state.lastOutput;
    this.output = state.output.map((o) => ({ value: o.value, aux: Boolean(o.aux), timeout: Boolean(o.timeout) }));
    const head = this.output[0];
    if (head) this.raiseFor(head);
  }
}
