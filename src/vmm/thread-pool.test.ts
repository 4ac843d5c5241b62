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

test('a pre-started device thread attaches the guest RAM it is hinted, whether it is still warming up or idle', async () => {
  // In a child process with tracing on: the thread reports on stderr what it did with the hint.
  const { spawnSync } = await import('node:child_process');
  const script = `
    const { hintIdleThread, prestartThreads, stopIdleThreads } = await import(${JSON.stringify(new URL('./thread-pool.js', import.meta.url).href)});
    const { GuestRam } = await import(${JSON.stringify(new URL('./guest-ram.js', import.meta.url).href)});
    prestartThreads({ device: 1 });
    const ram = GuestRam.allocate([{ gpa: 0, size: 128 << 20 }]);
    hintIdleThread('device', { ram: ram.shared() });
    await new Promise((r) => setTimeout(r, 1500));
    hintIdleThread('device', { ram: ram.shared() });
    await new Promise((r) => setTimeout(r, 500));
    await stopIdleThreads();
    ram.close();
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, TYPEVISOR_DEBUG: '1' };
  delete env['NODE_TEST_CONTEXT']; // the child is a plain script, not a test file reporting to this runner
  // A file, not `-e`: workers inherit the parent's execArgv, and `--input-type` breaks theirs.
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-hint-'));
  const file = join(dir, 'hint.mjs');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { env, encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.match(/device thread: guest RAM attached ahead/g)?.length, 2, r.stderr);
  assert.match(r.stderr, /device code warmed up/);
});
