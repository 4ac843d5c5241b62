/**
 * A tiny test guest for the engine tests: Debian's cloud kernel
 * (linux-image-cloud-amd64, fetched with apt-get into .cache/engines) and a
 * busybox initramfs whose init:
 * - prints "guest: ready" and runs a shell on the serial console (typing works),
 * - loads the virtio block and net drivers (so disks are read and a NIC sends
 *   its IPv6 link-up packets),
 * - loads the ACPI button and evdev modules and powers off (`poweroff -f`) when
 *   the power button is pressed, so QMP system_powerdown ends the VM cleanly.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const CACHE_DIR = join(REPO, '.cache/engines');

export const GUEST_READY = 'guest: ready';
export const GUEST_POWER_BUTTON = 'guest: power button pressed';
/** Loaded in this order (dependencies first: Debian's .deb has no modules.dep). */
const MODULES = [
  'kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
  'kernel/drivers/virtio/virtio_pci.ko',
  'kernel/drivers/block/virtio_blk.ko',
  'kernel/net/core/failover.ko',
  'kernel/drivers/net/net_failover.ko',
  'kernel/drivers/net/virtio_net.ko',
  'kernel/drivers/acpi/button.ko',
  'kernel/drivers/input/evdev.ko',
];
const APPLETS = ['sh', 'mount', 'insmod', 'head', 'poweroff', 'echo', 'cat', 'grep', 'basename', 'mkdir', 'setsid', 'cttyhack', 'ip'];

const INIT = `#!/bin/sh
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in ${MODULES.map((m) => m.split('/').at(-1)).join(' ')}; do insmod /lib/modules/$m; done
ip link set eth0 up 2>/dev/null
for e in /sys/class/input/event*; do
  if grep -q "Power Button" $e/device/name 2>/dev/null; then
    (head -c 1 /dev/input/$(basename $e) >/dev/null; echo "${GUEST_POWER_BUTTON}"; poweroff -f) &
  fi
done
echo "${GUEST_READY}"
exec setsid cttyhack sh
`;

export interface TestGuest {
  kernel: string;
  initrd: string;
  cmdline: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Download and unpack the cloud kernel and the two modules the init needs (once). */
async function ensureKernel(): Promise<{ kernel: string; modules: string[] }> {
  const unpacked = join(CACHE_DIR, 'x');
  const findKernel = async () => (await readdir(join(unpacked, 'boot')).catch(() => [])).find((f) => f.startsWith('vmlinuz-'));
  let kernelFile = await findKernel();
  if (kernelFile === undefined) {
    await mkdir(CACHE_DIR, { recursive: true });
    const { stdout } = await run('apt-cache', ['depends', 'linux-image-cloud-amd64']);
    const versioned = /Depends:\s*(linux-image-\S+-cloud-amd64)/.exec(stdout)?.[1];
    if (versioned === undefined) throw new Error(`cannot resolve linux-image-cloud-amd64: ${stdout}`);
    await run('apt-get', ['download', versioned], { cwd: CACHE_DIR });
    const deb = (await readdir(CACHE_DIR)).find((f) => f.startsWith(`${versioned}_`) && f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${versioned} left no .deb in ${CACHE_DIR}`);
    await mkdir(unpacked, { recursive: true });
    await run('dpkg-deb', ['-x', join(CACHE_DIR, deb), unpacked], { maxBuffer: 64 * 1024 * 1024 });
    kernelFile = await findKernel();
    if (kernelFile === undefined) throw new Error(`${deb} holds no /boot/vmlinuz-*`);
  }
  const release = kernelFile.slice('vmlinuz-'.length);
  return {
    kernel: join(unpacked, 'boot', kernelFile),
    modules: MODULES.map((m) => join(unpacked, 'lib/modules', release, m)),
  };
}

/** The kernel, a freshly built initramfs (cached) and a command line for a serial console. */
export async function testGuest(): Promise<TestGuest> {
  const { kernel, modules } = await ensureKernel();
  // Named by content so a changed init is rebuilt.
  const digest = createHash('sha256').update(INIT).update(APPLETS.join(' ')).update(modules.join(' ')).digest('hex').slice(0, 12);
  const initrd = join(CACHE_DIR, `engines-initrd-${digest}.gz`);
  if (!(await exists(initrd))) {
    const root = await mkdtemp(join(tmpdir(), 'engines-initrd-'));
    try {
      await mkdir(join(root, 'bin'));
      await mkdir(join(root, 'lib/modules'), { recursive: true });
      await copyFile('/bin/busybox', join(root, 'bin/busybox'));
      for (const applet of APPLETS) await symlink('busybox', join(root, 'bin', applet));
      for (const module of modules) await copyFile(module, join(root, 'lib/modules', module.split('/').at(-1)!));
      await writeFile(join(root, 'init'), INIT);
      await chmod(join(root, 'init'), 0o755);
      const partial = `${initrd}.${process.pid}`;
      await run('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${partial}" && mv "${partial}" "${initrd}"`]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  return { kernel, initrd, cmdline: 'console=ttyS0 quiet panic=-1' };
}
