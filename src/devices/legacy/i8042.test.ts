import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingIrqLine } from '../interrupts.js';
import { Bus } from '../bus.js';
import { I8042_COMMAND_PORT, I8042_DATA_PORT } from '../../arch/x86_64/layout.js';
import { I8042, I8042Command, I8042Ctr, I8042PortOffset, I8042Status, KEYBOARD_ID, KeyboardCommand, KeyboardReply, NO_DEVICE_RESPONSE } from './i8042.js';

function setup() {
  const kbdIrq = new RecordingIrqLine();
  const auxIrq = new RecordingIrqLine();
  let resets = 0;
  const kbc = new I8042({ onReset: () => resets++, kbdIrq, auxIrq });
  const bus = new Bus();
  bus.insert(I8042_DATA_PORT, 1, kbc.dataPort, 'i8042 data');
  bus.insert(I8042_COMMAND_PORT, 1, kbc.commandPort, 'i8042 command');
  const inb = (port: number) => {
    const d = new Uint8Array(1);
    bus.read(port, d);
    return d[0]!;
  };
  const outb = (port: number, v: number) => bus.write(port, Uint8Array.of(v));
  const command = (c: number) => outb(I8042_COMMAND_PORT, c);
  const status = () => inb(I8042_COMMAND_PORT);
  const data = () => inb(I8042_DATA_PORT);
  return { kbc, kbdIrq, auxIrq, resets: () => resets, inb, outb, command, status, data };
}

test('self-test answers 0x55 and sets the system flag; interface tests answer 0x00', () => {
  const t = setup();
  assert.equal(t.status() & I8042Status.OUTPUT_FULL, 0);
  t.command(I8042Command.SELF_TEST);
  assert.equal(t.status() & (I8042Status.OUTPUT_FULL | I8042Status.SYSTEM_FLAG), I8042Status.OUTPUT_FULL | I8042Status.SYSTEM_FLAG);
  assert.equal(t.data(), 0x55);
  assert.equal(t.status() & I8042Status.OUTPUT_FULL, 0);
  t.command(I8042Command.KBD_TEST);
  assert.equal(t.data(), 0x00);
  t.command(I8042Command.AUX_TEST);
  assert.equal(t.data(), 0x00);
  assert.equal(t.data(), 0x00, 'an empty buffer reads the last byte again');
});

test('command byte read/write (0x20/0x60) and port enable/disable bits', () => {
  const t = setup();
  t.command(I8042Command.READ_RAM_FIRST);
  const ctr = t.data();
  assert.equal(ctr & I8042Ctr.KBD_INT, I8042Ctr.KBD_INT);
  t.command(I8042Command.WRITE_RAM_FIRST);
  assert.equal(t.status() & I8042Status.LAST_WRITE_WAS_COMMAND, I8042Status.LAST_WRITE_WAS_COMMAND);
  t.outb(I8042_DATA_PORT, 0x03 | I8042Ctr.SYSTEM_FLAG);
  t.command(I8042Command.READ_RAM_FIRST);
  assert.equal(t.data(), 0x07);
  t.command(I8042Command.KBD_DISABLE);
  t.command(I8042Command.AUX_DISABLE);
  t.command(I8042Command.READ_RAM_FIRST);
  assert.equal(t.data(), 0x07 | I8042Ctr.KBD_DISABLE | I8042Ctr.AUX_DISABLE);
  t.command(I8042Command.KBD_ENABLE);
  t.command(I8042Command.AUX_ENABLE);
  t.command(I8042Command.READ_RAM_FIRST);
  assert.equal(t.data(), 0x07);
  t.command(0x65); // RAM byte 5
  t.outb(I8042_DATA_PORT, 0x99);
  t.command(0x25);
  assert.equal(t.data(), 0x99);
});

test('AUX loopback (0xD3) returns the byte with AUX_DATA and raises IRQ 12 when AUX_INT is on', () => {
  const t = setup();
  t.command(I8042Command.WRITE_RAM_FIRST);
  t.outb(I8042_DATA_PORT, I8042Ctr.KBD_INT | I8042Ctr.AUX_INT);
  t.command(I8042Command.WRITE_AUX_OUTPUT);
  t.outb(I8042_DATA_PORT, 0x5a);
  assert.equal(t.auxIrq.pulses, 1);
  assert.equal(t.kbdIrq.pulses, 0);
  assert.equal(t.status() & (I8042Status.OUTPUT_FULL | I8042Status.AUX_DATA), I8042Status.OUTPUT_FULL | I8042Status.AUX_DATA);
  assert.equal(t.data(), 0x5a);
  t.command(I8042Command.WRITE_KBD_OUTPUT);
  t.outb(I8042_DATA_PORT, 0x1c);
  assert.equal(t.kbdIrq.pulses, 1);
  assert.equal(t.status() & I8042Status.AUX_DATA, 0);
  assert.equal(t.data(), 0x1c);
});

test('the absent mouse answers 0xFE with TIMEOUT at once; the keyboard ACKs its commands', () => {
  const t = setup();
  t.outb(I8042_DATA_PORT, KeyboardCommand.RESET);
  assert.equal(t.status() & (I8042Status.OUTPUT_FULL | I8042Status.TIMEOUT), I8042Status.OUTPUT_FULL);
  assert.deepEqual([t.data(), t.data()], [KeyboardReply.ACK, KeyboardReply.SELF_TEST_PASSED]);
  assert.equal(t.kbdIrq.pulses, 2, 'CTR default has KBD_INT: one pulse per byte');
  t.command(I8042Command.WRITE_AUX_DEVICE);
  t.outb(I8042_DATA_PORT, 0xf2);
  assert.equal(t.status() & (I8042Status.AUX_DATA | I8042Status.TIMEOUT), I8042Status.AUX_DATA | I8042Status.TIMEOUT);
  assert.equal(t.data(), NO_DEVICE_RESPONSE);
  assert.equal(t.auxIrq.pulses, 0, 'AUX_INT is off by default');
});

test("keyboard: atkbd's probe sequence (GETID, set 2, LEDs, rate, enable) and bad bytes", () => {
  const t = setup();
  const send = (...bytes: number[]) => {
    for (const b of bytes) t.outb(I8042_DATA_PORT, b);
    const got: number[] = [];
    while (t.status() & I8042Status.OUTPUT_FULL) got.push(t.data());
    return got;
  };
  assert.deepEqual(send(KeyboardCommand.GET_ID), [KeyboardReply.ACK, ...KEYBOARD_ID]);
  assert.deepEqual(send(KeyboardCommand.DISABLE), [KeyboardReply.ACK]);
  assert.deepEqual(send(KeyboardCommand.SCANCODE_SET, 2), [KeyboardReply.ACK, KeyboardReply.ACK]);
  assert.deepEqual(send(KeyboardCommand.SCANCODE_SET, 0), [KeyboardReply.ACK, KeyboardReply.ACK, 2]);
  assert.deepEqual(send(KeyboardCommand.SET_LEDS, 0x07), [KeyboardReply.ACK, KeyboardReply.ACK]);
  assert.deepEqual(send(KeyboardCommand.SET_TYPEMATIC, 0x20), [KeyboardReply.ACK, KeyboardReply.ACK]);
  assert.equal(t.kbc.sendCtrlAltDel(), false, 'scanning is off after DISABLE: keys are dropped');
  assert.deepEqual(send(KeyboardCommand.ENABLE), [KeyboardReply.ACK]);
  assert.deepEqual(send(KeyboardCommand.ECHO), [KeyboardReply.ECHO]);
  assert.deepEqual(send(KeyboardCommand.SCANCODE_SET, 9), [KeyboardReply.ACK, KeyboardReply.RESEND], 'no scancode set 9');
  assert.deepEqual(send(0x42), [KeyboardReply.RESEND], 'not a command');
  assert.deepEqual(send(KeyboardCommand.RESEND), [KeyboardReply.RESEND], 'RESEND repeats the last byte sent');
  // A command byte while a parameter is awaited starts the new command.
  assert.deepEqual(send(KeyboardCommand.SET_LEDS, KeyboardCommand.GET_ID), [KeyboardReply.ACK, KeyboardReply.ACK, ...KEYBOARD_ID]);
});

test('Ctrl+Alt+Del: set 1 through the translating controller, set 2 without translation; each byte interrupts', () => {
  const t = setup();
  const drain = () => {
    const got: number[] = [];
    while (t.status() & I8042Status.OUTPUT_FULL) got.push(t.data());
    return got;
  };
  const before = t.kbdIrq.pulses;
  assert.equal(t.kbc.sendCtrlAltDel(), true);
  // Ctrl, Alt, Del pressed; Del, Alt, Ctrl released (set 1: break = make | 0x80).
  assert.deepEqual(drain(), [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  assert.equal(t.kbdIrq.pulses - before, 8);
  // Linux with i8042.direct clears XLATE: the keyboard's own set 2 (break = 0xF0 before the last byte).
  t.command(I8042Command.READ_RAM_FIRST);
  const ctr = t.data();
  t.command(I8042Command.WRITE_RAM_FIRST);
  t.outb(I8042_DATA_PORT, ctr & ~I8042Ctr.XLATE);
  t.kbc.sendCtrlAltDel();
  assert.deepEqual(drain(), [0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14]);
  // A keyboard port disabled in the command byte types nothing.
  t.command(I8042Command.KBD_DISABLE);
  assert.equal(t.kbc.sendCtrlAltDel(), false);
  assert.deepEqual(drain(), []);
});

test('queued bytes each raise an interrupt when they reach the head', () => {
  const t = setup();
  t.command(I8042Command.SELF_TEST);
  t.command(I8042Command.KBD_TEST);
  assert.equal(t.kbdIrq.pulses, 1);
  assert.equal(t.data(), 0x55);
  assert.equal(t.kbdIrq.pulses, 2);
  assert.equal(t.data(), 0x00);
});

test('reset line: 0xFE pulse, 0xFF does not, output port bit 0 written low does', () => {
  const t = setup();
  t.command(I8042Command.RESET_CPU);
  assert.equal(t.resets(), 1);
  t.command(0xff);
  assert.equal(t.resets(), 1);
  t.command(I8042Command.READ_OUTPUT_PORT);
  assert.equal(t.data() & 1, 1);
  t.command(I8042Command.WRITE_OUTPUT_PORT);
  t.outb(I8042_DATA_PORT, 0x03);
  assert.equal(t.resets(), 1);
  t.command(I8042Command.WRITE_OUTPUT_PORT);
  t.outb(I8042_DATA_PORT, 0x02);
  assert.equal(t.resets(), 2);
});

test('the controller also works as one 5-port range (offset 4 = command)', () => {
  let resets = 0;
  const kbc = new I8042({ onReset: () => resets++ });
  kbc.write(I8042PortOffset.STATUS_COMMAND, Uint8Array.of(I8042Command.SELF_TEST));
  const d = new Uint8Array(1);
  kbc.read(I8042PortOffset.DATA, d);
  assert.equal(d[0], 0x55);
  kbc.read(1, d);
  assert.equal(d[0], 0xff, 'unused offsets read as an empty bus');
  kbc.write(I8042PortOffset.STATUS_COMMAND, Uint8Array.of(0xfe));
  assert.equal(resets, 1);
});

test('save/restore round trip, including a command waiting for its data byte', () => {
  const a = setup();
  a.command(I8042Command.SELF_TEST);
  a.command(I8042Command.WRITE_RAM_FIRST);
  const saved = JSON.parse(JSON.stringify(a.kbc.save()));
  const b = setup();
  b.kbc.restore(saved);
  assert.deepEqual(b.kbc.save(), a.kbc.save());
  assert.equal(b.kbdIrq.pulses, 1, 'pending output re-raised');
  b.outb(I8042_DATA_PORT, 0x00); // completes the 0x60 command
  assert.equal(b.data(), 0x55);
  b.command(I8042Command.READ_RAM_FIRST);
  assert.equal(b.data(), 0x00);
  assert.throws(() => b.kbc.restore({ ...saved, version: 3 }), /version/);
  assert.throws(() => b.kbc.restore({ ...saved, ram: [1] }), /ram/);
  assert.throws(() => b.kbc.restore({ ...saved, output: [{ value: 999, aux: false, timeout: false }] }), /output/);
  assert.throws(() => b.kbc.restore({ ...saved, keyboard: { ...saved.keyboard, scancodeSet: 7 } }), /keyboard/);
});

test('the keyboard state survives save/restore; a state from before the keyboard existed restores with defaults', () => {
  const a = setup();
  a.outb(I8042_DATA_PORT, KeyboardCommand.DISABLE);
  a.outb(I8042_DATA_PORT, KeyboardCommand.SCANCODE_SET); // waiting for its parameter
  const saved = JSON.parse(JSON.stringify(a.kbc.save()));
  const b = setup();
  b.kbc.restore(saved);
  assert.deepEqual(b.kbc.save(), a.kbc.save());
  assert.equal(b.kbc.sendCtrlAltDel(), false, 'scanning stays off');
  const { keyboard: _dropped, ...old } = saved;
  const c = setup();
  c.kbc.restore(old);
  assert.deepEqual(c.kbc.save().keyboard, { scanning: true, scancodeSet: 2, pendingCommand: null, lastSent: KeyboardReply.ACK });
});

// A replay of Linux's i8042 probe (drivers/input/serio/i8042.c: i8042_controller_check, _selftest, _init,
// i8042_check_aux, port setup): every expected answer must be there at once (no timeouts), and the AUX IRQ test
// must see IRQ 12.
test('Linux i8042 probe: no timeouts, AUX loop and AUX IRQ test pass, the keyboard answers, the absent mouse fails fast', () => {
  const t = setup();
  const command = (cmd: number, params: number[] = [], answers = 0, auxLoop = false): number[] => {
    assert.equal(t.status() & I8042Status.INPUT_FULL, 0, 'input buffer free');
    t.command(cmd);
    for (const p of params) t.outb(I8042_DATA_PORT, p);
    const result: number[] = [];
    for (let i = 0; i < answers; i++) {
      const status = t.status();
      assert.equal(status & I8042Status.OUTPUT_FULL, I8042Status.OUTPUT_FULL, `answer to 0x${cmd.toString(16)} waiting`);
      if (auxLoop) assert.equal(status & I8042Status.AUX_DATA, I8042Status.AUX_DATA, 'AUX loop answer flagged as AUX data');
      result.push(t.data());
    }
    return result;
  };
  const flush = () => {
    for (let i = 0; i < 16 && t.status() & I8042Status.OUTPUT_FULL; i++) t.data();
    assert.equal(t.status() & I8042Status.OUTPUT_FULL, 0);
  };
  flush();
  assert.deepEqual(command(I8042Command.SELF_TEST, [], 1), [0x55]);
  let ctr = command(I8042Command.READ_RAM_FIRST, [], 1)[0]!;
  ctr = (ctr | I8042Ctr.KBD_DISABLE) & ~I8042Ctr.KBD_INT;
  command(I8042Command.WRITE_RAM_FIRST, [ctr]);
  // i8042_check_aux()
  flush();
  assert.deepEqual(command(I8042Command.WRITE_AUX_OUTPUT, [0x5a], 1, true), [0x5a]);
  command(I8042Command.AUX_DISABLE);
  assert.equal(command(I8042Command.READ_RAM_FIRST, [], 1)[0]! & I8042Ctr.AUX_DISABLE, I8042Ctr.AUX_DISABLE);
  command(I8042Command.AUX_ENABLE);
  ctr = command(I8042Command.READ_RAM_FIRST, [], 1)[0]!;
  assert.equal(ctr & I8042Ctr.AUX_DISABLE, 0);
  ctr = (ctr & ~I8042Ctr.AUX_DISABLE) | I8042Ctr.AUX_INT; // i8042_enable_aux_port()
  command(I8042Command.WRITE_RAM_FIRST, [ctr]);
  const auxPulses = t.auxIrq.pulses;
  command(I8042Command.WRITE_AUX_OUTPUT, [0xa5]); // the AUX IRQ delivery test
  assert.equal(t.auxIrq.pulses, auxPulses + 1, 'AUX IRQ delivered');
  assert.equal(t.data(), 0xa5);
  // keyboard port
  assert.deepEqual(command(I8042Command.KBD_TEST, [], 1), [0x00]);
  ctr = (ctr & ~I8042Ctr.KBD_DISABLE) | I8042Ctr.KBD_INT;
  command(I8042Command.WRITE_RAM_FIRST, [ctr]);
  // atkbd probes the keyboard, which answers; psmouse probes the absent mouse, which fails at once
  const kbdPulses = t.kbdIrq.pulses;
  t.outb(I8042_DATA_PORT, 0xf2); // ATKBD_CMD_GETID
  assert.equal(t.kbdIrq.pulses, kbdPulses + 1);
  assert.equal(t.status() & I8042Status.TIMEOUT, 0);
  assert.deepEqual([t.data(), t.data(), t.data()], [KeyboardReply.ACK, ...KEYBOARD_ID]);
  command(I8042Command.WRITE_AUX_DEVICE, [0xf2]);
  assert.equal(t.auxIrq.pulses, auxPulses + 2);
  assert.equal(t.data(), NO_DEVICE_RESPONSE);
});
