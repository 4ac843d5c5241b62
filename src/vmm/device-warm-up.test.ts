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
