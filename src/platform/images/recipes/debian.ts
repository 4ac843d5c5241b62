/**
 * The `debian-12` image: a bookworm root filesystem made by debootstrap from
 * the host's configured Debian mirror, with systemd, a serial getty on ttyS0,
 * cloud-init (NoCloud only), openssh-server and ifupdown, plus Debian's cloud
 * kernel and an initramfs-tools initramfs that loads the virtio modules.
 *
 * The configured chroot is cached as a tar keyed by every input (suite,
 * mirror, package list, recipe revision), and debootstrap's .deb cache is
 * kept too, so a repeat build is an untar + mkfs.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runLogged, withDirLock } from '../host-tools.js';
import { ROOT_LABEL, type ImageRecipe, type RecipeContext, type RecipeOutput } from '../recipe.js';

/** Bump when the configuration below changes, so cached chroots are rebuilt. */
const RECIPE_REVISION = 1;
export const SUITE = 'bookworm';
const DISK_BYTES = 3 * 1024 ** 3;

export const DEBIAN_PACKAGES = [
  'systemd', 'systemd-sysv', 'udev', 'dbus',
  // python3-cffi-backend: python3-cryptography (for cloud-init) depends on virtual packages it provides,
  // which debootstrap's resolver does not follow.
  'cloud-init', 'python3-cffi-backend', 'openssh-server', 'sudo',
  'ifupdown', 'isc-dhcp-client', 'iproute2', 'iputils-ping', 'netbase', 'ca-certificates',
  'linux-image-cloud-amd64', 'initramfs-tools', 'e2fsprogs', 'zstd',
];

/** Modules initramfs-tools must put in the initramfs and load (virtio disk/net, ext4). */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_scsi', 'ext4'];

/** The first deb.debian.org-style mirror in the host's apt sources (the only reachable one here). */
export function hostDebianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    // no sources.list.d
  }
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    // deb822 stanzas: URIs + Suites containing the bare suite name.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(SUITE) && /debian\/?$/.test(uri)) return uri;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m && m[2] === SUITE && /debian\/?$/.test(m[1] ?? '')) return m[1] as string;
    }
  }
  return 'http://deb.debian.org/debian';
}

const CONFIGURE_SCRIPT = `set -e
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo 'LABEL=${ROOT_LABEL} / ext4 errors=remount-ro 0 1' > /etc/fstab
echo debian > /etc/hostname
printf 'auto lo\\niface lo inet loopback\\n\\nsource /etc/network/interfaces.d/*\\n' > /etc/network/interfaces
mkdir -p /etc/cloud/cloud.cfg.d /etc/systemd/system/getty.target.wants
# Only the NoCloud seed the platform attaches: no slow probing of cloud metadata services.
printf 'datasource_list: [ NoCloud, None ]\\n' > /etc/cloud/cloud.cfg.d/90-typevisor.cfg
ln -sf /lib/systemd/system/serial-getty@.service /etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service
for m in ${INITRAMFS_MODULES.join(' ')}; do grep -qx "$m" /etc/initramfs-tools/modules || echo "$m" >> /etc/initramfs-tools/modules; done
update-initramfs -u -k all
# Per-instance identity is made at first boot: machine-id by systemd, SSH host keys by cloud-init.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /tmp/*
`;

export const debianRecipe: ImageRecipe = {
  name: 'debian-12',
  description: 'Debian 12 (bookworm): systemd, serial getty, cloud-init, openssh-server, cloud kernel + virtio initramfs',
  async build(ctx: RecipeContext): Promise<RecipeOutput> {
    const mirror = hostDebianMirror();
    const inputs = { revision: RECIPE_REVISION, suite: SUITE, mirror, variant: 'minbase', packages: [...DEBIAN_PACKAGES].sort(), initramfsModules: INITRAMFS_MODULES };
    const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
    const cacheRoot = path.join(ctx.cacheDir, 'debootstrap');
    const tarball = path.join(cacheRoot, `${SUITE}-${key}.tar`);
    const root = path.join(ctx.workDir, 'root');
    await fs.mkdir(root, { recursive: true });

    await withDirLock(cacheRoot, async () => {
      if (existsSync(tarball)) {
        ctx.log(`debootstrap result cached (${path.basename(tarball)})`);
        return;
      }
      const debs = path.join(ctx.cacheDir, 'debs');
      await fs.mkdir(debs, { recursive: true });
      const chroot = path.join(ctx.workDir, 'chroot');
      ctx.log(`debootstrap ${SUITE} from ${mirror} (${DEBIAN_PACKAGES.length} extra packages)`);
      let retrieved = 0;
      await runLogged(
        'debootstrap',
        ['--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`, `--cache-dir=${debs}`, SUITE, chroot, mirror],
        ctx,
        {
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
          onLine: (line) => {
            // debootstrap's phases: Retrieving (~250 packages), Extracting, Unpacking, Configuring.
            if (line.startsWith('I: Retrieving ')) ctx.progress(0.05 + 0.3 * Math.min(1, ++retrieved / 260));
            else if (line.startsWith('I: Extracting ')) ctx.progress(0.4);
            else if (line.startsWith('I: Installing core')) ctx.progress(0.45);
            else if (line.startsWith('I: Unpacking the base')) ctx.progress(0.5);
            else if (line.startsWith('I: Configuring the base')) ctx.progress(0.6);
            else if (line.startsWith('I: Base system installed')) ctx.progress(0.7);
          },
        },
      );
      ctx.log('configuring the chroot');
      await fs.mkdir(path.join(chroot, 'proc'), { recursive: true });
      await runLogged('mount', ['-t', 'proc', 'proc', path.join(chroot, 'proc')], ctx);
      try {
        await runLogged('chroot', [chroot, '/bin/sh', '-c', CONFIGURE_SCRIPT], ctx);
      } finally {
        await runLogged('umount', ['-l', path.join(chroot, 'proc')], ctx).catch(() => undefined);
      }
      ctx.progress(0.75);
      ctx.log('caching the configured chroot');
      await runLogged('tar', ['--numeric-owner', '--xattrs', '-C', chroot, '-cf', `${tarball}.tmp`, '.'], ctx);
      await fs.rename(`${tarball}.tmp`, tarball);
      await fs.rm(chroot, { recursive: true, force: true });
    });
    ctx.progress(0.78);
    await runLogged('tar', ['--numeric-owner', '--xattrs', '-C', root, '-xpf', tarball], ctx);
    const bootFiles = await fs.readdir(path.join(root, 'boot'));
    const vmlinuz = bootFiles.find((f) => f.startsWith('vmlinuz-'));
    const initrd = bootFiles.find((f) => f.startsWith('initrd.img-'));
    if (!vmlinuz || !initrd) throw new Error('the chroot has no /boot/vmlinuz-* and /boot/initrd.img-*');
    const kernel = path.join(ctx.workDir, 'vmlinuz');
    const initrdOut = path.join(ctx.workDir, 'initrd.img');
    await fs.copyFile(path.join(root, 'boot', vmlinuz), kernel);
    await fs.copyFile(path.join(root, 'boot', initrd), initrdOut);
    ctx.progress(0.82);
    ctx.log('making the ext4 root filesystem');
    const rootfsRaw = path.join(ctx.workDir, 'rootfs.raw');
    await runLogged('mkfs.ext4', ['-q', '-F', '-L', ROOT_LABEL, '-d', root, rootfsRaw, `${DISK_BYTES / 1024}k`], ctx);
    await fs.rm(root, { recursive: true, force: true });
    ctx.progress(0.9);
    return {
      rootfsRaw,
      diskSizeBytes: DISK_BYTES,
      kernel,
      initrd: initrdOut,
      cmdline: `console=ttyS0 root=LABEL=${ROOT_LABEL} ro`,
      inputs: { ...inputs, cacheKey: key, kernelRelease: vmlinuz.slice('vmlinuz-'.length) },
    };
  },
};
