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

/** sun_path is 108 bytes including the terminating NUL (unix(7)). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

const TAP_NAME = /^[A-Za-z0-9_.-]{1,15}$/; // IFNAMSIZ - 1
const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const SERIAL = /^[A-Za-z0-9_.-]{1,20}$/; // virtio-blk serial: 20 bytes (virtio 1.2 §5.2.6 VIRTIO_BLK_ID_BYTES)

/** Escape one value inside a QEMU key=value option list. */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

function checkPath(what: string, path: string): void {
  if (!path.startsWith('/')) throw new Error(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  if (path.includes('\0') || path.includes('\n')) throw new Error(`${what} contains a NUL or newline: ${JSON.stringify(path)}`);
}

/** Throws an Error naming the first thing wrong with the spec. */
export function validateLaunchSpec(spec: VmLaunchSpec): void {
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 255) {
    throw new Error(`vcpus must be an integer from 1 to 255, got ${spec.vcpus}`);
  }
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16 || spec.memoryMiB > 4 * 1024 * 1024) {
    throw new Error(`memoryMiB must be an integer from 16 to 4194304, got ${spec.memoryMiB}`);
  }
  if (typeof spec.name !== 'string' || spec.name.length === 0 || spec.name.length > 128 || /[\0\n]/.test(spec.name)) {
    throw new Error(`name must be 1-128 characters without NUL or newline, got ${JSON.stringify(spec.name)}`);
  }
  checkPath('runDir', spec.runDir);
  const longest = qemuRunPaths(spec.runDir).consoleSocket;
  if (Buffer.byteLength(longest) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new Error(
      `run directory ${spec.runDir} is too long for a Unix socket path (${Buffer.byteLength(longest)} bytes > ${MAX_UNIX_SOCKET_PATH_BYTES}): use a shorter data directory`,
    );
  }
  if (spec.boot) {
    checkPath('boot.kernel', spec.boot.kernel);
    if (spec.boot.initrd !== undefined) checkPath('boot.initrd', spec.boot.initrd);
    if (spec.boot.cmdline !== undefined && /[\0]/.test(spec.boot.cmdline)) throw new Error('boot.cmdline contains a NUL byte');
  } else if (spec.disks.length === 0) {
    throw new Error('nothing to boot: give boot.kernel or at least one disk');
  }
  spec.disks.forEach((disk, index) => {
    checkPath(`disks[${index}].path`, disk.path);
    if (disk.format !== 'raw' && disk.format !== 'qcow2') throw new Error(`disks[${index}].format must be raw or qcow2, got ${JSON.stringify(disk.format)}`);
    if (disk.serial !== undefined && !SERIAL.test(disk.serial)) {
      throw new Error(`disks[${index}].serial must be 1-20 characters of [A-Za-z0-9_.-], got ${JSON.stringify(disk.serial)}`);
    }
  });
  spec.nics.forEach((nic, index) => {
    if (!TAP_NAME.test(nic.tap)) throw new Error(`nics[${index}].tap must be a device name of 1-15 characters [A-Za-z0-9_.-], got ${JSON.stringify(nic.tap)}`);
    if (!MAC_ADDRESS.test(nic.mac)) throw new Error(`nics[${index}].mac must look like 52:54:00:12:34:56, got ${JSON.stringify(nic.mac)}`);
    if ((Number.parseInt(nic.mac.slice(0, 2), 16) & 1) === 1) throw new Error(`nics[${index}].mac ${nic.mac} is a multicast address`);
  });
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
