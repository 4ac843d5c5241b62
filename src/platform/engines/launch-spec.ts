/**
 * Checks on a VmLaunchSpec shared by every engine: each problem is reported
 * with the field that holds it, before any process is started.
 */
import { join } from 'node:path';
import type { VmLaunchSpec } from './engine.js';

/** sun_path is 108 bytes including the terminating NUL (unix(7)). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

const TAP_NAME = /^[A-Za-z0-9_.-]{1,15}$/; // IFNAMSIZ - 1
const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const SERIAL = /^[A-Za-z0-9_.-]{1,20}$/; // virtio-blk serial: 20 bytes (virtio 1.2 §5.2.6 VIRTIO_BLK_ID_BYTES)

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
  // console.sock is the longest socket name any engine puts in the run directory.
  const longest = join(spec.runDir, 'console.sock');
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

