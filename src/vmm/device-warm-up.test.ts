import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { warmUpDeviceCode } from './device-warm-up.js';

test('the device warm-up runs the device code on throwaway devices and leaves nothing open', () => {
  const fdsBefore = readdirSync('/proc/self/fd').length;
  warmUpDeviceCode();
  warmUpDeviceCode();
  assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'no file descriptor was opened and kept');
});

test('a VM that arrives during the warm-up ends it at the next stage, and is handed back', () => {
  assert.equal(warmUpDeviceCode(() => 'vm'), 'vm', 'already there: no stage runs');
  let asked = 0;
  const init = warmUpDeviceCode(() => (++asked === 2 ? 'vm' : undefined));
  assert.equal(init, 'vm');
  assert.equal(asked, 2, 'one stage ran, then the VM was taken');
  assert.equal(warmUpDeviceCode(), undefined, 'no VM: every stage runs');
});
