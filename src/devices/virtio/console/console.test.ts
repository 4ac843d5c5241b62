import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioPciTestDriver } from '../transport/test-driver.js';
import { CONSOLE_RECEIVE_QUEUE, CONSOLE_TRANSMIT_QUEUE, VirtioConsole, VirtioConsoleConfig } from './console.js';

function setup(maxPendingInput?: number) {
  const output: number[] = [];
  const console = new VirtioConsole({ output: (b) => output.push(...b), cols: 120, rows: 40, ...(maxPendingInput ? { maxPendingInput } : {}) });
  const driver = new VirtioPciTestDriver(console);
  return { console, driver, output };
}

test('config: size and one port; emergency write outputs a character', () => {
  const { driver, output } = setup();
  assert.equal(driver.deviceConfigRead(VirtioConsoleConfig.COLS, 2), 120);
  assert.equal(driver.deviceConfigRead(VirtioConsoleConfig.ROWS, 2), 40);
  assert.equal(driver.deviceConfigRead(VirtioConsoleConfig.MAX_NR_PORTS, 4), 1);
  driver.initialize();
  driver.deviceConfigWrite(VirtioConsoleConfig.EMERG_WR, 4, 0x41);
  assert.deepEqual(output, [0x41]);
});

test('guest output reaches the callback', () => {
  const { driver, output, console } = setup();
  driver.initialize();
  const tx = driver.queues[CONSOLE_TRANSMIT_QUEUE]!;
  tx.addChain([{ data: new TextEncoder().encode('hello ') }, { data: new TextEncoder().encode('hvc0') }]);
  driver.kick(CONSOLE_TRANSMIT_QUEUE);
  assert.equal(new TextDecoder().decode(Uint8Array.from(output)), 'hello hvc0');
  assert.equal(tx.takeUsed().length, 1);
  assert.equal(console.metrics().bytesFromGuest, 10);
});

test('input waits for receive buffers and is split across them', () => {
  const { driver, console } = setup();
  driver.initialize();
  console.enqueueInput(new TextEncoder().encode('abcdef'));
  const rx = driver.queues[CONSOLE_RECEIVE_QUEUE]!;
  const a = rx.addChain([{ writableLength: 4 }]);
  const b = rx.addChain([{ writableLength: 4 }]);
  driver.kick(CONSOLE_RECEIVE_QUEUE);
  assert.deepEqual(rx.takeUsed(), [
    { head: a, len: 4 },
    { head: b, len: 2 },
  ]);
  assert.equal(new TextDecoder().decode(rx.readWritten(a, 4)), 'abcd');
  assert.equal(new TextDecoder().decode(rx.readWritten(b, 2)), 'ef');
  assert.equal(driver.interruptsFor(1), 1);
});

test('pending input is bounded and survives save/restore', () => {
  const { console } = setup(4);
  console.enqueueInput(Uint8Array.of(1, 2, 3));
  console.enqueueInput(Uint8Array.of(4, 5, 6));
  assert.equal(console.metrics().droppedInputBytes, 2);
  const state = JSON.parse(JSON.stringify(console.save()));
  const { console: copy, driver } = setup();
  copy.restore(state);
  driver.initialize();
  const rx = driver.queues[CONSOLE_RECEIVE_QUEUE]!;
  const h = rx.addChain([{ writableLength: 8 }]);
  driver.kick(CONSOLE_RECEIVE_QUEUE);
  assert.deepEqual([...rx.readWritten(h, 4)], [1, 2, 3, 4]);
});

test('resize updates the config and raises a config interrupt', () => {
  const { driver, console } = setup();
  driver.initialize();
  console.resize(100, 30);
  assert.equal(driver.deviceConfigRead(VirtioConsoleConfig.COLS, 2), 100);
  assert.equal(driver.interruptsFor(0), 1);
});

test('onBackendReady pulls from readInput', () => {
  const chunks = [Uint8Array.of(1), Uint8Array.of(2)];
  const console = new VirtioConsole({ output: () => {}, readInput: () => chunks.shift() ?? null });
  const driver = new VirtioPciTestDriver(console);
  driver.initialize();
  const rx = driver.queues[CONSOLE_RECEIVE_QUEUE]!;
  const h = rx.addChain([{ writableLength: 8 }]);
  driver.transport.backendReady();
  assert.deepEqual(rx.takeUsed(), [{ head: h, len: 1 }]);
  assert.equal(console.metrics().bytesToGuest, 1);
  const h2 = rx.addChain([{ writableLength: 8 }]);
  driver.kick(CONSOLE_RECEIVE_QUEUE);
  assert.deepEqual(rx.takeUsed(), [{ head: h2, len: 1 }]);
});
