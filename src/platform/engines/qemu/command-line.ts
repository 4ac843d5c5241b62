/**
 * The QEMU command line for one VM (QEMU 7.2 `qemu-system-x86_64`, docs/system/invocation).
 *
 * Machine choice: q35 under both KVM and TCG. Measured on this project's PVM host
 * (TCG, Debian cloud kernel + busybox initramfs, spawn to the init's first line):
 * q35 2.25-2.7 s, microvm 2.15 s. The half second is not worth losing PCI
 * (virtio-blk-pci / virtio-net-pci, disk boots through SeaBIOS, ISO installs).
 *
 * QEMU option values are comma-separated key=value lists: a literal comma in a
 * value (a path, a name) is written as ",,".
 */
import { join } from 'node:path';
import type { VmLaunchSpec } from '../engine.js';
import { validateLaunchSpec } from '../launch-spec.js';

export { validateLaunchSpec };

export type QemuAccelerator = 'kvm' | 'tcg';

/** Files of one VM under its run directory. */
export interface QemuRunPaths {
  runDir: string;
  qmpSocket: string;
  consoleSocket: string;
  consoleLog: string;
  pidFile: string;
  stderrLog: string;
}

export function qemuRunPaths(runDir: string): QemuRunPaths {
  return {
    runDir,
    qmpSocket: join(runDir, 'qmp.sock'),
    consoleSocket: join(runDir, 'console.sock'),
    consoleLog: join(runDir, 'console.log'),
    pidFile: join(runDir, 'qemu.pid'),
    stderrLog: join(runDir, 'qemu.stderr'),
  };
}

/** Escape one value inside a QEMU key=value option list. */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

export interface QemuCommandOptions {
  accelerator: QemuAccelerator;
}

/** argv (without the binary) for `qemu-system-x86_64`; validates the spec first. */
export function buildQemuArgs(spec: VmLaunchSpec, options: QemuCommandOptions): string[] {
  validateLaunchSpec(spec);
  const paths = qemuRunPaths(spec.runDir);
  const e = escapeOptionValue;
  const args: string[] = [
    '-name', e(spec.name),
    '-machine', 'q35',
    '-accel', options.accelerator,
    // TCG emulates every feature it can; KVM passes the host CPU through.
    '-cpu', options.accelerator === 'kvm' ? 'host' : 'max',
    '-smp', String(spec.vcpus),
    '-m', String(spec.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    // Serial console: a Unix socket the daemon (re)connects to, plus a log file that
    // records everything, connected or not.
    '-chardev', `socket,id=ser0,path=${e(paths.consoleSocket)},server=on,wait=off,logfile=${e(paths.consoleLog)},logappend=on`,
    '-serial', 'chardev:ser0',
    '-chardev', `socket,id=qmp0,path=${e(paths.qmpSocket)},server=on,wait=off`,
    '-mon', 'chardev=qmp0,mode=control',
    '-pidfile', paths.pidFile,
  ];
  if (spec.boot) {
    args.push('-kernel', spec.boot.kernel);
    if (spec.boot.initrd !== undefined) args.push('-initrd', spec.boot.initrd);
    if (spec.boot.cmdline !== undefined) args.push('-append', spec.boot.cmdline);
  }
  spec.disks.forEach((disk, index) => {
    const drive = [`if=none`, `id=d${index}`, `file=${e(disk.path)}`, `format=${disk.format}`];
    // Writable disks bypass the host page cache (guests flush on their own); read-only
    // ones may share it.
    drive.push(disk.readonly ? 'cache=writeback' : 'cache=none');
    if (disk.readonly) drive.push('readonly=on');
    const device = ['virtio-blk-pci', `drive=d${index}`, `id=disk${index}`];
    if (disk.serial !== undefined) device.push(`serial=${disk.serial}`);
    if (!spec.boot && index === 0) device.push('bootindex=0');
    args.push('-drive', drive.join(','), '-device', device.join(','));
  });
  spec.nics.forEach((nic, index) => {
    args.push(
      '-netdev', `tap,id=n${index},ifname=${nic.tap},script=no,downscript=no,vhost=off`,
      '-device', `virtio-net-pci,netdev=n${index},id=nic${index},mac=${nic.mac.toLowerCase()}`,
    );
  });
  return args;
}

/** Whether an argv (from /proc/[pid]/cmdline) is the QEMU we started for this run directory. */
export function isOurQemu(argv: readonly string[], runDir: string): boolean {
  if (argv.length === 0) return false;
  const binary = argv[0]!.split('/').at(-1) ?? '';
  if (!binary.startsWith('qemu-system')) return false;
  const pidFileIndex = argv.indexOf('-pidfile');
  return pidFileIndex >= 0 && argv[pidFileIndex + 1] === qemuRunPaths(runDir).pidFile;
}
