/** Which L2 guest deaths the lab scenarios put down to the lab (guestLabFault), and which they do not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestLabFault } from './lab-scenarios.js';

test('a triple fault or a guest soft lockup is a lab fault; other failures are not', () => {
  assert.equal(
    guestLabFault({ error: 'timed out', stdout: 'TVIO: start\n', stderr: 'typevisor: guest reset (triple fault (KVM_EXIT_SHUTDOWN)); exiting\n' }),
    'guest reset (triple fault (KVM_EXIT_SHUTDOWN))',
  );
  assert.equal(
    guestLabFault({ error: 'locked up', stdout: '[   41.48] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]\r\n', stderr: '' }),
    'watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]',
  );
  assert.equal(guestLabFault({ error: 'timed out waiting for /TVIO: done/', stdout: 'TVIO: start\n', stderr: '' }), undefined);
  assert.equal(guestLabFault({ error: 'x', stdout: '', stderr: 'typevisor: error: vCPU 0 stopped on KVM_EXIT_INTERNAL_ERROR' }), undefined);
  assert.equal(guestLabFault({ stdout: 'TVIO: done\n', stderr: '' }), undefined);
});
