import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idleThreads, prestartThreads, stopIdleThreads } from './thread-pool.js';

test('pre-started threads: topped up to the counts asked, never beyond, and ended on request', async () => {
  try {
    prestartThreads({ device: 1, vcpu: 2 });
    assert.equal(idleThreads('device'), 1);
    assert.equal(idleThreads('vcpu'), 2);
    prestartThreads({ vcpu: 1 });
    assert.equal(idleThreads('vcpu'), 2, 'asking for fewer than wait idle starts none');
    prestartThreads({ vcpu: 3 });
    assert.equal(idleThreads('vcpu'), 3);
  } finally {
    await stopIdleThreads();
  }
  assert.equal(idleThreads('device'), 0);
  assert.equal(idleThreads('vcpu'), 0);
});
