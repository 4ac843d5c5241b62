import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmLaunchSpec } from '../engine.js';
import { buildQemuArgs, escapeOptionValue, isOurQemu, qemuRunPaths, validateLaunchSpec } from './command-line.js';

function spec(overrides: Partial<VmLaunchSpec> = {}): VmLaunchSpec {
  return {
    id: 'vm-1',
    name: 'web,1',
    vcpus: 2,
    memoryMiB: 512,
    boot: { kernel: '/img/vmlinuz', initrd: '/img/initrd.gz', cmdline: 'console=ttyS0 quiet' },
    disks: [
      { path: '/pool/a,b.qcow2', format: 'qcow2', readonly: false, serial: 'root' },
      { path: '/pool/seed.raw', format: 'raw', readonly: true },
    ],
    nics: [{ tap: 'tv-vm1-0', mac: '52:54:00:AB:cd:01' }],
    runDir: '/var/lib/typevisor/run/vm-1',
    ...overrides,
  };
}

/** The value following each occurrence of a flag. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1]!] : []));
}

test('escapeOptionValue doubles commas', () => {
  assert.equal(escapeOptionValue('a,b,,c'), 'a,,b,,,,c');
});

test('a kernel boot under TCG', () => {
  const args = buildQemuArgs(spec(), { accelerator: 'tcg' });
  assert.deepEqual(values(args, '-accel'), ['tcg']);
  assert.deepEqual(values(args, '-cpu'), ['max']);
  assert.deepEqual(values(args, '-machine'), ['q35']);
  assert.deepEqual(values(args, '-smp'), ['2']);
  assert.deepEqual(values(args, '-m'), ['512']);
  assert.deepEqual(values(args, '-name'), ['web,,1']);
  assert.deepEqual(values(args, '-kernel'), ['/img/vmlinuz']);
  assert.deepEqual(values(args, '-initrd'), ['/img/initrd.gz']);
  assert.deepEqual(values(args, '-append'), ['console=ttyS0 quiet']);
  assert.ok(args.includes('-nodefaults') && args.includes('-nographic'));
  assert.ok(!args.includes('-no-shutdown'), 'a guest power-off must end the process');
  const paths = qemuRunPaths('/var/lib/typevisor/run/vm-1');
  assert.deepEqual(values(args, '-pidfile'), [paths.pidFile]);
  assert.deepEqual(values(args, '-chardev'), [
    `socket,id=ser0,path=${paths.consoleSocket},server=on,wait=off,logfile=${paths.consoleLog},logappend=on`,
    `socket,id=qmp0,path=${paths.qmpSocket},server=on,wait=off`,
  ]);
  assert.deepEqual(values(args, '-serial'), ['chardev:ser0']);
  assert.deepEqual(values(args, '-mon'), ['chardev=qmp0,mode=control']);
  assert.deepEqual(values(args, '-drive'), [
    'if=none,id=d0,file=/pool/a,,b.qcow2,format=qcow2,cache=none',
    'if=none,id=d1,file=/pool/seed.raw,format=raw,cache=writeback,readonly=on',
  ]);
  assert.deepEqual(values(args, '-device'), [
    'virtio-blk-pci,drive=d0,id=disk0,serial=root',
    'virtio-blk-pci,drive=d1,id=disk1',
    'virtio-net-pci,netdev=n0,id=nic0,mac=52:54:00:ab:cd:01',
  ]);
  assert.deepEqual(values(args, '-netdev'), ['tap,id=n0,ifname=tv-vm1-0,script=no,downscript=no,vhost=off']);
});

test('KVM passes the host CPU; a disk boot marks the first disk bootable', () => {
  const args = buildQemuArgs(spec({ boot: undefined }), { accelerator: 'kvm' });
  assert.deepEqual(values(args, '-cpu'), ['host']);
  assert.deepEqual(values(args, '-kernel'), []);
  assert.match(values(args, '-device')[0]!, /bootindex=0$/);
});

test('bad specs are refused with the field named', () => {
  const cases: Array<[Partial<VmLaunchSpec>, RegExp]> = [
    [{ vcpus: 0 }, /vcpus/],
    [{ vcpus: 1.5 }, /vcpus/],
    [{ memoryMiB: 8 }, /memoryMiB/],
    [{ name: '' }, /name/],
    [{ runDir: 'relative/dir' }, /runDir must be an absolute path/],
    [{ runDir: `/${'x'.repeat(120)}` }, /too long for a Unix socket/],
    [{ boot: { kernel: 'vmlinuz' } }, /boot\.kernel/],
    [{ boot: undefined, disks: [] }, /nothing to boot/],
    [{ disks: [{ path: '/a', format: 'vmdk' as 'raw', readonly: false }] }, /disks\[0\]\.format/],
    [{ disks: [{ path: '/a', format: 'raw', readonly: false, serial: 'has space' }] }, /disks\[0\]\.serial/],
    [{ nics: [{ tap: 'tap0,script=/evil', mac: '52:54:00:00:00:01' }] }, /nics\[0\]\.tap/],
    [{ nics: [{ tap: 'tap0', mac: 'nonsense' }] }, /nics\[0\]\.mac/],
    [{ nics: [{ tap: 'tap0', mac: '01:00:5e:00:00:01' }] }, /multicast/],
  ];
  for (const [overrides, pattern] of cases) {
    assert.throws(() => validateLaunchSpec(spec(overrides)), pattern, JSON.stringify(overrides));
  }
});

test('isOurQemu checks the binary and the pid file of this run directory', () => {
  const args = buildQemuArgs(spec(), { accelerator: 'tcg' });
  assert.equal(isOurQemu(['qemu-system-x86_64', ...args], '/var/lib/typevisor/run/vm-1'), true);
  assert.equal(isOurQemu(['/usr/bin/qemu-system-x86_64', ...args], '/var/lib/typevisor/run/vm-1'), true);
  assert.equal(isOurQemu(['qemu-system-x86_64', ...args], '/var/lib/typevisor/run/vm-2'), false);
  assert.equal(isOurQemu(['/usr/bin/sleep', ...args], '/var/lib/typevisor/run/vm-1'), false);
  assert.equal(isOurQemu([], '/x'), false);
});
