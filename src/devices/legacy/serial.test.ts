import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingIrqLine } from '../interrupts.js';
import { Ier, Iir, Lsr, Mcr, Serial8250, UartRegister } from './serial.js';

function setup(inputCapacity?: number) {
  const irq = new RecordingIrqLine();
  const out: number[] = [];
  const uart = new Serial8250({ irq, onOutput: (b) => out.push(...b), ...(inputCapacity ? { inputCapacity } : {}) });
  const rd = (reg: number) => {
    const d = new Uint8Array(1);
    uart.read(reg, d);
    return d[0]!;
  };
  const wr = (reg: number, v: number) => uart.write(reg, Uint8Array.of(v));
  return { irq, out, uart, rd, wr };
}

test('THR writes reach onOutput and count bytes; LSR keeps THRE and TEMT', () => {
  const { out, uart, rd, wr } = setup();
  for (const c of Buffer.from('hi\n')) wr(UartRegister.DATA, c);
  assert.equal(Buffer.from(out).toString(), 'hi\n');
  assert.equal(uart.bytesOut, 3);
  assert.equal(rd(UartRegister.LSR) & (Lsr.THR_EMPTY | Lsr.TRANSMITTER_EMPTY), Lsr.THR_EMPTY | Lsr.TRANSMITTER_EMPTY);
});

test('DLAB switches offsets 0 and 1 to the divisor latch', () => {
  const { out, rd, wr } = setup();
  wr(UartRegister.LCR, 0x83);
  wr(UartRegister.DATA, 0x01);
  wr(UartRegister.IER, 0x02);
  assert.equal(rd(UartRegister.DATA), 0x01);
  assert.equal(rd(UartRegister.IER), 0x02);
  assert.equal(out.length, 0, 'a divisor write is not output');
  wr(UartRegister.LCR, 0x03);
  assert.equal(rd(UartRegister.IER), 0, 'IER untouched by DLM write');
  assert.equal(rd(UartRegister.LCR), 0x03);
});

test('scratch register and IER mask behave as Linux autoconfig expects', () => {
  const { rd, wr } = setup();
  wr(UartRegister.SCR, 0xa5);
  assert.equal(rd(UartRegister.SCR), 0xa5);
  wr(UartRegister.IER, 0xff);
  assert.equal(rd(UartRegister.IER), 0x0f);
  wr(UartRegister.IER, 0);
  assert.equal(rd(UartRegister.IER), 0);
});

test('FCR enable makes IIR report a 16550A FIFO (bits 6..7)', () => {
  const { rd, wr } = setup();
  assert.equal(rd(UartRegister.IIR_FCR), Iir.NO_INTERRUPT);
  wr(UartRegister.IIR_FCR, 0x01);
  assert.equal(rd(UartRegister.IIR_FCR) >> 6, 3);
  wr(UartRegister.IIR_FCR, 0x00);
  assert.equal(rd(UartRegister.IIR_FCR) >> 6, 0);
});

test('loopback: THR feeds RBR and MSR mirrors MCR (Linux 8250 probe wants 0x90 for LOOP|OUT2|RTS)', () => {
  const { out, rd, wr, uart } = setup();
  wr(UartRegister.MCR, Mcr.LOOP | Mcr.OUT2 | Mcr.RTS);
  rd(UartRegister.MSR); // clear deltas
  assert.equal(rd(UartRegister.MSR) & 0xf0, 0x90);
  wr(UartRegister.DATA, 0x55);
  assert.equal(out.length, 0);
  assert.equal(rd(UartRegister.LSR) & Lsr.DATA_READY, Lsr.DATA_READY);
  assert.equal(rd(UartRegister.DATA), 0x55);
  assert.equal(rd(UartRegister.LSR) & Lsr.DATA_READY, 0);
  assert.equal(uart.enqueueInput(Uint8Array.of(1)), 0, 'outside input is cut off in loopback');
  wr(UartRegister.MCR, Mcr.OUT2);
  assert.equal(rd(UartRegister.MSR) & 0xf0, 0xb0, 'connected modem lines outside loopback');
});

test('loopback overrun sets LSR.OE, which clears on read', () => {
  const { rd, wr } = setup();
  wr(UartRegister.MCR, Mcr.LOOP);
  for (let i = 0; i < 17; i++) wr(UartRegister.DATA, i);
  assert.equal(rd(UartRegister.LSR) & Lsr.OVERRUN_ERROR, Lsr.OVERRUN_ERROR);
  assert.equal(rd(UartRegister.LSR) & Lsr.OVERRUN_ERROR, 0);
});

test('enabling ETBEI raises THRE at once; reading IIR clears it; each THR write re-raises it', () => {
  const { irq, rd, wr } = setup();
  wr(UartRegister.IER, Ier.ETBEI);
  assert.equal(irq.pulses, 1);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.THR_EMPTY);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.NO_INTERRUPT, 'IIR read cleared THRE');
  wr(UartRegister.DATA, 0x41);
  assert.equal(irq.pulses, 2);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.THR_EMPTY);
  wr(UartRegister.DATA, 0x42);
  wr(UartRegister.IER, 0);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.NO_INTERRUPT, 'masked THRE is not reported');
  wr(UartRegister.DATA, 0x43);
  assert.equal(irq.pulses, 3, 'no pulse while ETBEI is clear');
});

test('received data: DR, RDA interrupt with priority over THRE, counters', () => {
  const { irq, uart, rd, wr } = setup();
  assert.equal(uart.enqueueInput(Buffer.from('ab')), 2);
  assert.equal(irq.pulses, 0, 'no interrupt while ERBFI is clear');
  wr(UartRegister.IER, Ier.ERBFI | Ier.ETBEI);
  assert.equal(irq.pulses, 1);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.RECEIVED_DATA);
  assert.equal(rd(UartRegister.DATA), 0x61);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.RECEIVED_DATA);
  assert.equal(rd(UartRegister.DATA), 0x62);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.THR_EMPTY, 'THRE surfaces once RX is drained');
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.NO_INTERRUPT);
  assert.equal(rd(UartRegister.DATA), 0, 'empty RBR reads 0');
  assert.equal(uart.bytesIn, 2);
  uart.enqueueInput(Buffer.from('c'));
  assert.equal(irq.pulses, 2, 'new input pulses again');
});

test('receiver line status has the highest priority', () => {
  const { rd, wr } = setup();
  wr(UartRegister.MCR, Mcr.LOOP);
  wr(UartRegister.IER, Ier.ERBFI | Ier.ETBEI | Ier.ELSI);
  for (let i = 0; i < 17; i++) wr(UartRegister.DATA, i);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.RECEIVER_LINE_STATUS);
  rd(UartRegister.LSR);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.RECEIVED_DATA);
});

test('modem status interrupt from loopback MCR changes, cleared by reading MSR', () => {
  const { irq, rd, wr } = setup();
  wr(UartRegister.MCR, Mcr.LOOP);
  rd(UartRegister.MSR);
  wr(UartRegister.IER, Ier.EDSSI);
  const before = irq.pulses;
  wr(UartRegister.MCR, Mcr.LOOP | Mcr.RTS);
  assert.equal(irq.pulses, before + 1);
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.MODEM_STATUS);
  assert.equal(rd(UartRegister.MSR) & 0x0f, 0x01, 'DCTS');
  assert.equal(rd(UartRegister.IIR_FCR) & 0x0f, Iir.NO_INTERRUPT);
});

test('input capacity is bounded; FCR clear-RX drops queued input', () => {
  const { uart, rd, wr } = setup(4);
  assert.equal(uart.enqueueInput(Buffer.from('abcdef')), 4);
  assert.equal(uart.inputSpace(), 0);
  wr(UartRegister.IIR_FCR, 0x03);
  assert.equal(rd(UartRegister.LSR) & Lsr.DATA_READY, 0);
  assert.equal(uart.inputSpace(), 4);
  assert.throws(() => new Serial8250({ irq: new RecordingIrqLine(), onOutput: () => {}, inputCapacity: 0 }), /inputCapacity/);
});

test('wide accesses use the low byte; offsets out of range read 0xff', () => {
  const { out, uart } = setup();
  uart.write(0, Uint8Array.of(0x41, 0x42));
  assert.deepEqual(out, [0x41]);
  const d = new Uint8Array(2);
  uart.read(UartRegister.LCR, d);
  assert.deepEqual([...d], [0x03, 0]);
  const e = new Uint8Array(1);
  uart.read(9, e);
  assert.equal(e[0], 0xff);
});

test('save/restore round trip keeps registers, queued input and pending THRE; re-pulses', () => {
  const a = setup();
  a.wr(UartRegister.LCR, 0x83);
  a.wr(UartRegister.DATA, 0x01);
  a.wr(UartRegister.LCR, 0x1b);
  a.wr(UartRegister.IIR_FCR, 0x01);
  a.wr(UartRegister.SCR, 0x77);
  a.wr(UartRegister.IER, Ier.ETBEI | Ier.ERBFI);
  a.uart.enqueueInput(Buffer.from('xy'));
  a.wr(UartRegister.DATA, 0x41);
  const state = JSON.parse(JSON.stringify(a.uart.save()));
  const b = setup();
  b.uart.restore(state);
  assert.deepEqual(b.uart.save(), a.uart.save());
  assert.equal(b.irq.pulses, 1);
  assert.equal(b.rd(UartRegister.IIR_FCR), Iir.RECEIVED_DATA | Iir.FIFO_ENABLED);
  assert.equal(b.rd(UartRegister.DATA), 0x78);
  assert.throws(() => b.uart.restore({ ...state, version: 2 }), /version/);
  assert.throws(() => b.uart.restore({ ...state, rx: [300] }), /rx/);
  assert.throws(() => b.uart.restore({ ...state, lcr: -1 }), /lcr/);
});

// Replays of what Linux's 8250 driver does (drivers/tty/serial/8250/8250_port.c), so a change that would make
// Linux mis-detect the UART or fall back to its bug workarounds fails here rather than in a guest.
test('Linux autoconfig: scratch test, loopback probe and FIFO check identify a 16550A', () => {
  const { rd, wr } = setup();
  // autoconfig(): IER scratch test
  wr(UartRegister.IER, 0);
  const scratch2 = rd(UartRegister.IER) & 0x0f;
  wr(UartRegister.IER, 0x0f);
  const scratch3 = rd(UartRegister.IER) & 0x0f;
  wr(UartRegister.IER, 0);
  assert.equal(scratch2, 0);
  assert.equal(scratch3, 0x0f);
  // loopback probe: MSR must read DCD|CTS for LOOP|OUT2|RTS
  const savedMcr = rd(UartRegister.MCR);
  wr(UartRegister.MCR, Mcr.LOOP | 0x0a);
  const status1 = rd(UartRegister.MSR) & 0xf0;
  wr(UartRegister.MCR, savedMcr);
  assert.equal(status1, 0x90);
  // FIFO probe: IIR bits 6..7 == 3 means 16550A
  wr(UartRegister.IIR_FCR, 0x01);
  assert.equal(rd(UartRegister.IIR_FCR) >> 6, 3);
  // autoconfig_16550a(): no TI16750 (IIR bit 5 must not follow FCR bit 5)
  wr(UartRegister.LCR, 0);
  wr(UartRegister.IIR_FCR, 0x01 | 0x20);
  const s1 = rd(UartRegister.IIR_FCR) >> 5;
  wr(UartRegister.LCR, 0x80);
  wr(UartRegister.IIR_FCR, 0x01 | 0x20);
  const s2 = rd(UartRegister.IIR_FCR) >> 5;
  wr(UartRegister.LCR, 0);
  assert.ok(!(s1 === 6 && s2 === 7), 'not mistaken for a 16750');
});

test('Linux startup: THRE re-asserts (no UART_BUG_THRE) and enabling THRI interrupts at once (no UART_BUG_TXEN)', () => {
  const { rd, wr, irq } = setup();
  // serial8250_do_startup(): the THRE re-assert test
  wr(UartRegister.IER, Ier.ETBEI);
  const iir1 = rd(UartRegister.IIR_FCR);
  wr(UartRegister.IER, 0);
  wr(UartRegister.IER, Ier.ETBEI);
  const iir = rd(UartRegister.IIR_FCR);
  wr(UartRegister.IER, 0);
  const bugThre = !(iir1 & Iir.NO_INTERRUPT) && (iir & Iir.NO_INTERRUPT) !== 0;
  assert.equal(bugThre, false);
  // the TX-enable test
  wr(UartRegister.IER, Ier.ETBEI);
  const lsr = rd(UartRegister.LSR);
  const iir2 = rd(UartRegister.IIR_FCR);
  wr(UartRegister.IER, 0);
  const bugTxen = (lsr & Lsr.TRANSMITTER_EMPTY) !== 0 && (iir2 & Iir.NO_INTERRUPT) !== 0;
  assert.equal(bugTxen, false);
  assert.ok(irq.pulses >= 3, 'each enable raised an edge');
});

test('Linux interrupt-driven transmit: start_tx edge, handler drains IIR, stop_tx when done', () => {
  const { rd, wr, irq, out } = setup();
  const message = Buffer.from('hello from userspace\n');
  let sent = 0;
  const fifoSize = 16;
  wr(UartRegister.IER, Ier.ERBFI); // RX interrupts on, as after startup
  // start_tx(): set THRI
  let pulsesSeen = irq.pulses;
  wr(UartRegister.IER, Ier.ERBFI | Ier.ETBEI);
  let interrupts = 0;
  // Each new edge is one interrupt; serial8250_handle_irq() loops on IIR until "no interrupt".
  while (irq.pulses > pulsesSeen && interrupts < 100) {
    pulsesSeen = irq.pulses;
    interrupts++;
    let iir: number;
    while (!((iir = rd(UartRegister.IIR_FCR)) & Iir.NO_INTERRUPT)) {
      if ((iir & 0x0f) === Iir.THR_EMPTY) {
        if (sent === message.length) {
          wr(UartRegister.IER, Ier.ERBFI); // __stop_tx()
          break;
        }
        for (let i = 0; i < fifoSize && sent < message.length; i++) wr(UartRegister.DATA, message[sent++]!);
      }
    }
  }
  assert.equal(Buffer.from(out).toString(), message.toString(), 'the whole message went out on interrupts alone');
  assert.ok(interrupts <= 4, `${interrupts} interrupts for ${message.length} bytes`);
});
