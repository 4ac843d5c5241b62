import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvmUnavailableError } from '../kvm/kvm.js';
import { prepareVmShell, takeVmShell } from './vm-shell.js';

test('a VM shell that cannot be prepared ahead is reported when the VM is built, with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-shell-'));
  try {
    const missing = join(dir, 'kvm');
    assert.doesNotThrow(() => prepareVmShell(missing), 'preparing ahead never throws');
    assert.throws(() => takeVmShell(missing), (e: Error) => e instanceof KvmUnavailableError && /does not exist/.test(e.message));
    const notKvm = join(dir, 'not-kvm');
    writeFileSync(notKvm, '');
    prepareVmShell(notKvm);
    assert.throws(() => takeVmShell(notKvm), (e: Error) => e instanceof KvmUnavailableError && /not a KVM device/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
