/**
 * The `debian-12-minimal` image: the smallest Debian 12 that cloud-init can configure — systemd, udev and
 * dbus (hostnamectl), cloud-init (NoCloud) with systemd-networkd, openssh-server, sudo — for tests and for
 * users who want a quick build. Compared with `debian-12`:
 * - mmdebstrap instead of debootstrap: apt downloads the ~160 packages in parallel (seconds, where
 *   debootstrap's one-by-one fetch took minutes here) and dpkg runs without fsync (mmdebstrap's eatmydata
 *   hook); no Recommends, like debootstrap.
 * - no kernel package inside: the image boots the cached Debian cloud kernel (the one the `tiny` image uses)
 *   through a busybox initramfs that loads the virtio, FAT/ISO (cloud-init seed) and ACPI button modules and
 *   switches to the root by label; those modules are also installed in the root with a depmod, so modprobe and
 *   udev find them. No linux-image unpack, no update-initramfs, a smaller disk.
 * - no documentation, man pages or translations.
 *
 * The configured root is cached as a tar keyed by every input (suite, mirror, packages, kernel package, recipe
 * revision), so a repeat build is an untar + mkfs.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { debianCloudKernel, installKernelModules } from '../kernel.js';
import { repoRoot, runLogged, withDirLock } from '../host-tools.js';
import { ROOT_LABEL, type ImageRecipe, type RecipeContext, type RecipeOutput } from '../recipe.js';
import { hostDebianMirror, SUITE } from './debian.js';
import { switchRootSnippet } from './tiny.js';

/** Bump when the configuration below changes, so cached roots are rebuilt. */
const RECIPE_REVISION = 2;
const DISK_BYTES = 2 * 1024 ** 3;

export const DEBIAN_MINIMAL_PACKAGES = [
  'systemd-sysv', 'udev',
  // cloud-init sets the running hostname with hostnamectl, which talks to systemd-hostnamed over D-Bus.
  'dbus',
  'cloud-init', 'openssh-server', 'sudo',
  // resize2fs: cloud-init's resizefs module grows the root filesystem to the disk (and fails the stage without it).
  'e2fsprogs',
  // cloud-init renders its network config for systemd-networkd (part of systemd) when ifupdown is absent; its
  // availability check looks for `ip`. networkd's DHCP client is much quicker under emulation than ifupdown's dhclient.
  'iproute2',
];

/**
 * Loaded by the initramfs and installed in the root: virtio PCI disk + NIC; FAT and ISO 9660 (with the code pages
 * vfat mounts need) for the NoCloud seed; the ACPI power button and evdev, so systemd-logind powers off cleanly
 * on the platform's ACPI shutdown request. ext4 is built into Debian's cloud kernel.
 */
const GUEST_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'ext4', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8', 'isofs', 'button', 'evdev'];

/** Host PATH for the build tools: mmdebstrap's helpers run `python3` from PATH, which must be Debian's. */
const BUILD_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

const CONFIGURE_SCRIPT = `set -e
export DEBIAN_FRONTEND=noninteractive PATH=${BUILD_PATH}
echo 'LABEL=${ROOT_LABEL} / ext4 errors=remount-ro 0 1' > /etc/fstab
echo debian > /etc/hostname
mkdir -p /etc/cloud/cloud.cfg.d /etc/systemd/system/getty.target.wants
# Only the NoCloud seed the platform attaches: no slow probing of cloud metadata services. Host keys: ed25519 and
# ECDSA only (RSA 3072 and DSA key generation took over 10 s of a boot under TCG).
printf 'datasource_list: [ NoCloud, None ]\\nssh_genkeytypes: [ ed25519, ecdsa ]\\n' > /etc/cloud/cloud.cfg.d/90-typevisor.cfg
# cloud-init writes /etc/systemd/network/*.network at boot; networkd (and its wait-online) applies them.
systemctl enable systemd-networkd.service
ln -sf /lib/systemd/system/serial-getty@.service /etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service
# Per-instance identity is made at first boot: machine-id by systemd, SSH host keys by cloud-init.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /tmp/*
`;

/** mmdebstrap's progress lines, in order, with the share of the whole build each phase usually ends at. */
const PHASES: Array<[prefix: string, name: string, progress: number]> = [
  ['I: running apt-get update', 'apt-get update', 0.05],
  ['I: downloading packages', 'download', 0.1],
  ['I: extracting archives', 'extract', 0.15],
  ['I: installing essential packages', 'install essential', 0.25],
  ['I: installing remaining packages', 'install the rest', 0.4],
  ['I: cleaning package lists', 'clean up', 0.6],
];

export const debianMinimalRecipe: ImageRecipe = {
  name: 'debian-12-minimal',
  description: 'Debian 12 (bookworm), minimal: systemd, serial getty, cloud-init, openssh-server; Debian cloud kernel + busybox initramfs',
  async build(ctx: RecipeContext): Promise<RecipeOutput> {
    const mirror = hostDebianMirror();
    const kernel = await debianCloudKernel(ctx.cacheDir, ctx);
    const inputs = {
      revision: RECIPE_REVISION, suite: SUITE, mirror, tool: 'mmdebstrap', variant: 'apt',
      packages: [...DEBIAN_MINIMAL_PACKAGES].sort(), kernelPackage: kernel.packageKey, modules: GUEST_MODULES,
    };
    const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
    const cacheRoot = path.join(ctx.cacheDir, 'debootstrap');
    const tarball = path.join(cacheRoot, `${SUITE}-minimal-${key}.tar`);
    const root = path.join(ctx.workDir, 'root');
    const env = { ...process.env, PATH: BUILD_PATH, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
    const timings: Record<string, number> = {};
    const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await work();
      } finally {
        timings[name] = (Date.now() - t0) / 1000;
      }
    };

    let cached = true;
    await withDirLock(cacheRoot, async () => {
      if (existsSync(tarball)) {
        ctx.log(`root filesystem cached (${path.basename(tarball)})`);
        return;
      }
      cached = false;
      ctx.log(`mmdebstrap ${SUITE} from ${mirror} (${DEBIAN_MINIMAL_PACKAGES.length} extra packages)`);
      const phaseStart = new Map<string, number>();
      await timed('mmdebstrap', () =>
        runLogged(
          'mmdebstrap',
          [
            '--variant=apt', '--mode=root', '--format=directory',
            `--include=${DEBIAN_MINIMAL_PACKAGES.join(',')}`,
            // dpkg through eatmydata: no fsync per file (the result is tarred and fsynced once).
            '--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata',
            // A dropped connection to the mirror is retried instead of failing the build.
            '--aptopt=Acquire::Retries "3"',
            SUITE, root, mirror,
          ],
          ctx,
          {
            env,
            onLine: (line) => {
              const phase = PHASES.find(([prefix]) => line.startsWith(prefix));
              if (!phase) return;
              phaseStart.set(phase[1], Date.now());
              ctx.progress(phase[2]);
            },
          },
        ),
      );
      const starts = [...phaseStart.entries()];
      ctx.log(`mmdebstrap phases: ${starts.map(([name, t], i) => `${name} ${(((starts[i + 1]?.[1] ?? Date.now()) - t) / 1000).toFixed(1)} s`).join(', ')}`);
      await timed('configure', async () => {
        ctx.log('configuring the root');
        await runLogged('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')], ctx);
        try {
          await runLogged('chroot', [root, '/bin/sh', '-c', CONFIGURE_SCRIPT], ctx, { env });
        } finally {
          await runLogged('umount', ['-l', path.join(root, 'proc')], ctx).catch(() => undefined);
        }
        const files = await installKernelModules(kernel, GUEST_MODULES, root, ctx);
        ctx.log(`installed ${files.length} kernel modules of ${kernel.release}`);
      });
      ctx.progress(0.7);
      await timed('cache tar', async () => {
        await runLogged('tar', ['--numeric-owner', '--xattrs', '-C', root, '-cf', `${tarball}.tmp`, '.'], ctx);
        await fs.rename(`${tarball}.tmp`, tarball);
      });
    });
    if (cached) {
      await fs.mkdir(root, { recursive: true });
      await timed('untar', () => runLogged('tar', ['--numeric-owner', '--xattrs', '-C', root, '-xpf', tarball], ctx));
    }
    ctx.progress(0.75);

    const initrd = path.join(ctx.workDir, 'initrd.img');
    await timed('initramfs', () =>
      runLogged(
        path.join(repoRoot(), 'scripts', 'build-initramfs.sh'),
        ['--out', initrd, '--modules-from', kernel.modulesDir, '--modules', GUEST_MODULES.join(' '), '--init-snippet', switchRootSnippet('debian-initramfs')],
        ctx,
        { env },
      ),
    );
    ctx.log('making the ext4 root filesystem');
    const rootfsRaw = path.join(ctx.workDir, 'rootfs.raw');
    await timed('mkfs', () => runLogged('mkfs.ext4', ['-q', '-F', '-L', ROOT_LABEL, '-d', root, rootfsRaw, `${DISK_BYTES / 1024}k`], ctx, { env }));
    await fs.rm(root, { recursive: true, force: true });
    ctx.progress(0.9);
    ctx.log(`build phases: ${Object.entries(timings).map(([name, s]) => `${name} ${s.toFixed(1)} s`).join(', ')}`);
    return {
      rootfsRaw,
      diskSizeBytes: DISK_BYTES,
      kernel: kernel.vmlinuz,
      initrd,
      cmdline: 'console=ttyS0 panic=-1',
      inputs: { ...inputs, cacheKey: key, kernelRelease: kernel.release },
    };
  },
};
