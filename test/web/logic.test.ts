/** The web UI's pure rules (web/src/logic.ts, web/src/format.ts), run without a browser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedOps, inputForField, rates } from '../../web/src/logic.js';
import { bytes, duration, mib } from '../../web/src/format.js';

test('lifecycle actions follow the VM state the API accepts', () => {
  assert.deepEqual(allowedOps('stopped'), ['start', 'delete']);
  assert.deepEqual(allowedOps('crashed'), ['start', 'delete']);
  assert.deepEqual(allowedOps('running'), ['stop', 'reboot', 'pause']);
  assert.deepEqual(allowedOps('paused'), ['resume', 'stop']);
  assert.deepEqual(allowedOps('starting'), []);
  assert.deepEqual(allowedOps('stopping'), []);
});

test('API error fields map to the wizard input they concern', () => {
  assert.equal(inputForField('memoryMiB'), 'memoryMiB');
  assert.equal(inputForField('name'), 'name');
  assert.equal(inputForField('disks[0].sizeBytes'), 'disk');
  assert.equal(inputForField('nics[1].network'), 'networks');
  assert.equal(inputForField('cloudInit.hostname'), 'hostname');
  assert.equal(inputForField('cloudInit.sshAuthorizedKeys[2]'), 'sshKey');
  assert.equal(inputForField('boot.kernel'), 'boot.kernel');
  assert.equal(inputForField(undefined), null);
  assert.equal(inputForField(''), null);
});

test('rates from cumulative counters: per second, unknown at the start and across a counter reset', () => {
  assert.deepEqual(rates([], []), []);
  assert.deepEqual(rates([0, 1000, 3000, 4000, 4000], [0, 500, 1500, 100, 200]), [null, 500, 500, null, null]);
});

test('human-readable sizes and durations', () => {
  assert.equal(bytes(0), '0 B');
  assert.equal(bytes(1536), '1.5 KiB');
  assert.equal(bytes(64 * 1024 * 1024), '64.0 MiB');
  assert.equal(bytes(270553174016), '252 GiB');
  assert.equal(bytes(undefined), '—');
  assert.equal(duration(59_000), '59s');
  assert.equal(duration(3_725_000), '1h 2m');
  assert.equal(duration(90_000_000), '1d 1h');
  assert.equal(mib(2048), '2 GiB');
  assert.equal(mib(192), '192 MiB');
});
