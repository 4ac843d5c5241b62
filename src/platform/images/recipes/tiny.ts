/**
 * The `tiny` image: a busybox root filesystem on a small ext4 disk, booted by
 * the Debian cloud kernel through a busybox initramfs that loads the virtio
 * modules and switches to the disk. Its init reads the hostname from a NoCloud
 * seed (label CIDATA) when one is attached and brings every NIC up with
 * `udhcpc`. Boots in well under a second on hardware KVM.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { debianCloudKernel } from '../kernel.js';
import { repoRoot, runLogged } from '../host-tools.js';
import { ROOT_LABEL, type ImageRecipe, type RecipeContext, type RecipeOutput } from '../recipe.js';

const execFileAsync = promisify(execFile);

const DISK_BYTES = 64 * 1024 * 1024;
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8', 'button'];

/**
 * initramfs stage (a --init-snippet for scripts/build-initramfs.sh): find the root by label, mount it read-write,
 * hand over to its /sbin/init. `tag` prefixes the error messages. Shared with the minimal Debian recipe.
 */
export function switchRootSnippet(tag: string): string {
  return `
root=""
i=0
while [ $i -lt 100 ]; do
  root=$(findfs LABEL=${ROOT_LABEL} 2>/dev/null) && break
  i=$((i + 1)); sleep 0.05
done
if [ -z "$root" ]; then echo "${tag}: no disk labelled ${ROOT_LABEL}"; exec sh; fi
mkdir -p /newroot
mount -t ext4 -o rw "$root" /newroot || { echo "${tag}: cannot mount $root"; exec sh; }
umount -l /dev/pts /run /sys /proc /dev 2>/dev/null
exec switch_root /newroot /sbin/init
`;
}

const RC_S = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname tiny
# NoCloud seed (cloud-init's datasource format): hostname from meta-data, SSH keys from user-data.
seed=$(findfs LABEL=CIDATA 2>/dev/null || findfs LABEL=cidata 2>/dev/null)
if [ -n "$seed" ]; then
  mkdir -p /run/cidata
  if mount -o ro "$seed" /run/cidata 2>/dev/null; then
    h=$(sed -n 's/^local-hostname: *"\\{0,1\\}\\([^"]*\\)"\\{0,1\\} *$/\\1/p' /run/cidata/meta-data)
    [ -n "$h" ] && hostname "$h"
    mkdir -p /root/.ssh
    grep -o '"ssh-[a-z0-9-]* [A-Za-z0-9+/=]*[^"]*"' /run/cidata/user-data | tr -d '"' > /root/.ssh/authorized_keys
  fi
fi
echo "typevisor-tiny: hostname $(hostname)"
ip link set lo up
for dev in /sys/class/net/*; do
  n=\${dev##*/}
  [ "$n" = lo ] && continue
  ip link set "$n" up
  # 3 s per try: a guest under emulation on a busy host can take over a second to see an answer. Without a
  # lease after 5 tries udhcpc goes on in the background (retrying every 3 s); its hook still reports on the console.
  udhcpc -i "$n" -s /etc/udhcpc.script -x hostname:"$(hostname)" -t 5 -T 3 -A 3 -b -S
done
acpid
echo "typevisor-tiny: ready"
`;

const UDHCPC_SCRIPT = `#!/bin/sh
# busybox udhcpc hook: $1 is the event; $interface $ip $mask (prefix length) $router $dns from the lease.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "\${router%% *}" dev "$interface"; fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    # /dev/console, not stdout: a udhcpc that went to the background has its stdout on /dev/null.
    echo "typevisor-tiny: $interface $ip/$mask" > /dev/console
    ;;
esac
exit 0
`;

const INITTAB = `::sysinit:/etc/init.d/rcS
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/umount -a -r
`;

async function writeExecutable(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text, { mode: 0o755 });
}

async function stageRootfs(dir: string): Promise<void> {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'etc/init.d', 'root', 'mnt', 'var/run']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
  }
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.copyFile('/bin/busybox', path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  const { stdout } = await execFileAsync('/bin/busybox', ['--list-full']);
  for (const applet of stdout.split('\n')) {
    // `--list-full` includes bin/busybox itself; linking it onto itself gives ELOOP at init.
    if (!applet || applet.endsWith('/busybox')) continue;
    const target = path.join(dir, applet);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.symlink('/bin/busybox', target).catch(() => undefined);
  }
  await writeExecutable(path.join(dir, 'etc/init.d/rcS'), RC_S);
  await writeExecutable(path.join(dir, 'etc/udhcpc.script'), UDHCPC_SCRIPT);
  // busybox acpid runs /etc/acpi/<event> for the ACPI power button (event PWRF/00000080): a clean poweroff.
  await writeExecutable(path.join(dir, 'etc/acpi/PWRF/00000080'), '#!/bin/sh\npoweroff\n');
  await fs.writeFile(path.join(dir, 'etc/inittab'), INITTAB);
  await fs.writeFile(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await fs.writeFile(path.join(dir, 'etc/group'), 'root:x:0:\n');
  await fs.writeFile(path.join(dir, 'etc/hostname'), 'tiny\n');
  await fs.writeFile(path.join(dir, 'etc/fstab'), `LABEL=${ROOT_LABEL} / ext4 rw 0 1\n`);
}

export const tinyRecipe: ImageRecipe = {
  name: 'tiny',
  description: 'busybox on a 64 MiB ext4 disk + Debian cloud kernel; DHCP on every NIC, hostname from a NoCloud seed',
  async build(ctx: RecipeContext): Promise<RecipeOutput> {
    ctx.progress(0.05);
    const kernel = await debianCloudKernel(ctx.cacheDir, ctx);
    ctx.progress(0.4);
    const rootDir = path.join(ctx.workDir, 'rootfs');
    await stageRootfs(rootDir);
    const rootfsRaw = path.join(ctx.workDir, 'rootfs.raw');
    ctx.log('making the ext4 root filesystem');
    await runLogged('mkfs.ext4', ['-q', '-F', '-L', ROOT_LABEL, '-d', rootDir, '-E', 'root_owner=0:0', rootfsRaw, `${DISK_BYTES / 1024}k`], ctx);
    ctx.progress(0.6);
    const initrd = path.join(ctx.workDir, 'initrd.img');
    ctx.log('building the initramfs');
    await runLogged(
      path.join(repoRoot(), 'scripts', 'build-initramfs.sh'),
      ['--out', initrd, '--modules-from', kernel.modulesDir, '--modules', INITRAMFS_MODULES.join(' '), '--init-snippet', switchRootSnippet('tiny-initramfs')],
      ctx,
    );
    ctx.progress(0.8);
    return {
      rootfsRaw,
      diskSizeBytes: DISK_BYTES,
      kernel: kernel.vmlinuz,
      initrd,
      cmdline: 'console=ttyS0 panic=-1 quiet',
      inputs: { kernelPackage: kernel.packageKey, release: kernel.release, modules: INITRAMFS_MODULES, busybox: '/bin/busybox' },
    };
  },
};
