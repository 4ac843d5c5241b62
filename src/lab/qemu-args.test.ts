import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { qemuLabArgs, shellQuote } from './qemu-args.js';

const base = {
  kernel: '/k/vmlinux',
  initramfs: '/k/initrd.cpio.gz',
  cpus: 2,
  memoryMiB: 4096,
  resultsDir: '/r/run-1',
  shares: [],
  kernelArgs: '',
};

function valueOf(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (args[index - 1] === flag ? [arg] : []));
}

test('qemuLabArgs: TCG with -cpu max (emulated SVM), q35, no NIC, no reboot, serial console, pid in the results directory', () => {
  const args = qemuLabArgs(base);
  assert.deepEqual(valueOf(args, '-machine'), ['q35,accel=tcg']);
  assert.deepEqual(valueOf(args, '-cpu'), ['max']);
  assert.deepEqual(valueOf(args, '-smp'), ['2']);
  assert.deepEqual(valueOf(args, '-m'), ['4096']);
  assert.deepEqual(valueOf(args, '-nic'), ['none']);
  assert.ok(args.includes('-no-reboot') && args.includes('-nographic'));
  assert.deepEqual(valueOf(args, '-kernel'), ['/k/vmlinux']);
  assert.deepEqual(valueOf(args, '-initrd'), ['/k/initrd.cpio.gz']);
  assert.deepEqual(valueOf(args, '-pidfile'), ['/r/run-1/l1-qemu.pid']);
  assert.deepEqual(valueOf(args, '-append'), ['console=ttyS0 panic=-1 softlockup_panic=1 quiet mitigations=off']);
});

test('qemuLabArgs: host root read-only, results and shares writable, all with multidevs=remap', () => {
  const args = qemuLabArgs({ ...base, shares: [{ tag: 'rw0', path: '/work/main/test-output' }], kernelArgs: 'loglevel=7' });
  assert.deepEqual(valueOf(args, '-virtfs'), [
    'local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on',
    'local,path=/r/run-1,mount_tag=results,security_model=none,multidevs=remap',
    'local,path=/work/main/test-output,mount_tag=rw0,security_model=none,multidevs=remap',
  ]);
  assert.deepEqual(valueOf(args, '-append'), ['console=ttyS0 panic=-1 softlockup_panic=1 quiet mitigations=off loglevel=7']);
});

test('qemuLabArgs: commas in paths are doubled for QEMU; bad mount tags are refused', () => {
  const args = qemuLabArgs({ ...base, resultsDir: '/r/a,b' });
  assert.ok(valueOf(args, '-virtfs').includes('local,path=/r/a,,b,mount_tag=results,security_model=none,multidevs=remap'));
  assert.throws(() => qemuLabArgs({ ...base, shares: [{ tag: 'x'.repeat(32), path: '/p' }] }), /invalid 9p mount tag/);
  assert.throws(() => qemuLabArgs({ ...base, shares: [{ tag: 'a,b', path: '/p' }] }), /invalid 9p mount tag/);
});

test('shellQuote: any string survives sh as one word', () => {
  for (const value of ["it's", 'a b', '$HOME `id` "q"', '', 'back\\slash', "'"]) {
    const echoed = execFileSync('sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'utf8' });
    assert.equal(echoed, value);
  }
});
