/**
 * The i8042 keyboard controller with a PS/2 keyboard on its first port and no
 * mouse on the second.
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
 * The keyboard answers the commands Linux's atkbd driver sends when it probes
 * (GETID, reset, scancode set, LEDs, typematic rate, enable/disable) and types
 * the keys the VMM injects: Ctrl+Alt+Del for the SendCtrlAltDel action, which
 * a Linux guest turns into a reboot (or, once init asked for it, a SIGINT to
 * init). With `i8042.dumbkbd` on the command line Linux never writes to the
 * keyboard and assumes set 2, which is what it gets.
 *
 * Bytes sent to the absent mouse are answered at once with 0xFE and the
 * TIMEOUT status bit, the way a controller reports a device that did not
 * respond, so libps2 gives up immediately instead of waiting for its timeouts.
 * Bytes placed in the output buffer raise the keyboard (IRQ 1) or AUX (IRQ 12)
 * line when the command byte enables that interrupt.
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

/**
 * Commands a host sends to a PS/2 keyboard through the data port (IBM PS/2 Technical Reference, keyboard
 * commands; the same values as ATKBD_CMD_* in Linux's drivers/input/keyboard/atkbd.c).
 */
export const KeyboardCommand = {
  SET_LEDS: 0xed, // + 1 parameter byte
  ECHO: 0xee,
  SCANCODE_SET: 0xf0, // + 1 parameter byte: 0 asks for the current set, 1..3 selects one
  GET_ID: 0xf2,
  SET_TYPEMATIC: 0xf3, // + 1 parameter byte
  ENABLE: 0xf4,
  DISABLE: 0xf5, // "reset to defaults and disable scanning"
  SET_DEFAULTS: 0xf6,
  RESEND: 0xfe,
  RESET: 0xff,
} as const;

/** Keyboard replies. */
export const KeyboardReply = {
  ACK: 0xfa,
  RESEND: 0xfe,
  ECHO: 0xee,
  SELF_TEST_PASSED: 0xaa,
} as const;

/** The ID an MF2 keyboard answers to GET_ID (after the ACK). */
export const KEYBOARD_ID = [0xab, 0x83] as const;

/**
 * Keys the VMM can type, as (make) scan codes in set 1 and set 2. A set-1 break code is the make code with bit 7
 * set (after any 0xE0 prefix); a set-2 break is 0xF0 before the last byte. Values from the IBM PC scan code tables.
 */
export const Key = {
  LEFT_CTRL: { set1: [0x1d], set2: [0x14] },
  LEFT_ALT: { set1: [0x38], set2: [0x11] },
  DELETE: { set1: [0xe0, 0x53], set2: [0xe0, 0x71] },
} as const;
export interface KeyCode { readonly set1: readonly number[]; readonly set2: readonly number[] }

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

/** Persisted controller state, version 1. `keyboard` is absent in states written before the keyboard existed. */
export interface I8042StateV1 {
  version: 1;
  ram: number[];
  outputPort: number;
  pendingCommand: number | null;
  lastWriteWasCommand: boolean;
  lastOutput: number;
  output: Array<{ value: number; aux: boolean; timeout: boolean }>;
  keyboard?: KeyboardState;
}

/** The keyboard's own state. */
export interface KeyboardState {
  scanning: boolean;
  scancodeSet: number;
  /** A keyboard command waiting for its parameter byte. */
  pendingCommand: number | null;
  /** The last byte the keyboard sent, for RESEND. */
  lastSent: number;
}

const KEYBOARD_DEFAULTS: KeyboardState = { scanning: true, scancodeSet: 2, pendingCommand: null, lastSent: KeyboardReply.ACK };

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
  private keyboard: KeyboardState = { ...KEYBOARD_DEFAULTS };

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
      this.keyboardReceive(value);
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

  /**
   * Types the keys as a person would: each pressed in order, then released in reverse order. Returns false when
   * the keys were dropped because the guest disabled the keyboard (scanning off, or the port disabled in the
   * command byte), as a real keyboard's keystrokes would be lost.
   */
  typeChord(keys: readonly KeyCode[]): boolean {
    if (!this.keyboard.scanning || this.ctr() & I8042Ctr.KBD_DISABLE) return false;
    for (const key of keys) this.sendScanCode(key, false);
    for (const key of [...keys].reverse()) this.sendScanCode(key, true);
    return true;
  }

  /** Ctrl+Alt+Del, for the SendCtrlAltDel action. */
  sendCtrlAltDel(): boolean {
    return this.typeChord([Key.LEFT_CTRL, Key.LEFT_ALT, Key.DELETE]);
  }

  /**
   * The guest reads scan codes in set 1 when the controller translates (CTR XLATE, the PC default, with the
   * keyboard in set 2) or when the keyboard itself was put in set 1; otherwise in set 2.
   */
  private sendScanCode(key: KeyCode, release: boolean): void {
    const set1 = this.keyboard.scancodeSet === 1 || (this.ctr() & I8042Ctr.XLATE) !== 0;
    const make = set1 ? key.set1 : key.set2;
    const bytes: number[] = [...make];
    if (release) {
      const last = bytes.pop()!;
      if (set1) bytes.push(last | 0x80);
      else bytes.push(0xf0, last);
    }
    for (const b of bytes) this.pushOutput(b, false);
  }

  private keyboardSend(...bytes: number[]): void {
    for (const b of bytes) this.pushOutput(b, false);
    const last = bytes[bytes.length - 1];
    if (last !== undefined) this.keyboard.lastSent = last;
  }

  /** A byte written to the data port with no controller command pending goes to the keyboard. */
  private keyboardReceive(value: number): void {
    const kbd = this.keyboard;
    const pending = kbd.pendingCommand;
    if (pending !== null && value < 0xed) {
      // The parameter of SET_LEDS / SET_TYPEMATIC / SCANCODE_SET. (A byte >= 0xED is a new command instead.)
      kbd.pendingCommand = null;
      if (pending === KeyboardCommand.SCANCODE_SET) {
        if (value === 0) return this.keyboardSend(KeyboardReply.ACK, kbd.scancodeSet);
        if (value > 3) return this.keyboardSend(KeyboardReply.RESEND);
        kbd.scancodeSet = value;
      }
      return this.keyboardSend(KeyboardReply.ACK);
    }
    kbd.pendingCommand = null;
    switch (value) {
      case KeyboardCommand.SET_LEDS:
      case KeyboardCommand.SET_TYPEMATIC:
      case KeyboardCommand.SCANCODE_SET:
        kbd.pendingCommand = value;
        return this.keyboardSend(KeyboardReply.ACK);
      case KeyboardCommand.ECHO:
        return this.keyboardSend(KeyboardReply.ECHO);
      case KeyboardCommand.GET_ID:
        return this.keyboardSend(KeyboardReply.ACK, ...KEYBOARD_ID);
      case KeyboardCommand.ENABLE:
        kbd.scanning = true;
        return this.keyboardSend(KeyboardReply.ACK);
      case KeyboardCommand.DISABLE:
        kbd.scanning = false;
        kbd.scancodeSet = 2;
        return this.keyboardSend(KeyboardReply.ACK);
      case KeyboardCommand.SET_DEFAULTS:
        kbd.scancodeSet = 2;
        return this.keyboardSend(KeyboardReply.ACK);
      case KeyboardCommand.RESEND:
        return this.pushOutput(kbd.lastSent, false);
      case KeyboardCommand.RESET:
        this.keyboard = { ...KEYBOARD_DEFAULTS };
        return this.keyboardSend(KeyboardReply.ACK, KeyboardReply.SELF_TEST_PASSED);
      default:
        // 0xF7..0xFD (set-3 key types) are acknowledged; anything else is not a command: ask for it again.
        return this.keyboardSend(value >= 0xf7 ? KeyboardReply.ACK : KeyboardReply.RESEND);
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
      keyboard: { ...this.keyboard },
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
    this.keyboard = state.keyboard === undefined ? { ...KEYBOARD_DEFAULTS } : restoreKeyboard(state.keyboard);
    const head = this.output[0];
    if (head) this.raiseFor(head);
  }
}

function restoreKeyboard(k: KeyboardState): KeyboardState {
  const isByte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xff;
  if (typeof k !== 'object' || k === null || ![1, 2, 3].includes(k.scancodeSet) || !isByte(k.lastSent) || (k.pendingCommand !== null && !isByte(k.pendingCommand))) {
    throw new Error('I8042: state.keyboard is malformed');
  }
  return { scanning: Boolean(k.scanning), scancodeSet: k.scancodeSet, pendingCommand: k.pendingCommand, lastSent: k.lastSent };
}
