/**
 * Guest artifacts for tests and the KVM lab: Debian's kernels (scripts/fetch-kernels.sh) and busybox
 * initramfs images (scripts/build-initramfs.sh), with stable paths and a content-keyed cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface KernelArtifacts {
  /** The distribution's compressed kernel (Linux x86 boot protocol image). */
  readonly bzImage: string;
  /** The same kernel as an uncompressed ELF (for the VMM's ELF loader; PVH boot). */
  readonly vmlinux: string;
  /** lib/modules/<version> of this kernel, with modules.dep from depmod. */
  readonly modulesDir: string;
  /** The kernel release, e.g. "6.1.0-56-cloud-amd64". */
  readonly version: string;
  /** The kernel's .config. */
  readonly config: string;
}

export interface Kernels {
  /** linux-image-cloud-amd64: the guest kernel (virtio drivers are modules). */
  readonly cloud: KernelArtifacts;
  /** linux-image-amd64: the KVM lab's L1 kernel (has kvm-amd). */
  readonly generic: KernelArtifacts;
}

export interface InitramfsOptions {
  /** Shell code that /init runs after mounting proc/sys/dev and loading the modules; a path to a file also works. */
  readonly initSnippet: string;
  /** lib/modules/<version> to take modules from (e.g. `kernels.cloud.modulesDir`). */
  readonly modulesFrom?: string;
  /** Modules to load at boot; dependencies are added and ordered first. */
  readonly modules?: readonly string[];
  /** Extra files or directories copied into the image: `src` on the host, `dest` absolute inside the image. */
  readonly add?: readonly { readonly src: string; readonly dest: string }[];
  /** Where to put the image; default: a cache file named by the hash of all inputs. */
  readonly out?: string;
}

/** The repository root: the nearest ancestor of this module holding typevisor's package.json (works from src/ and dist/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'typevisor') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`typevisor's package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function cacheDir(...parts: string[]): string {
  return join(repoRoot(), '.cache', ...parts);
}

function kernelArtifacts(dir: string): KernelArtifacts {
  return {
    bzImage: join(dir, 'vmlinuz'),
    vmlinux: join(dir, 'vmlinux'),
    modulesDir: join(dir, 'modules'),
    version: existsSync(join(dir, 'version')) ? readFileSync(join(dir, 'version'), 'utf8').trim() : '',
    config: join(dir, 'config'),
  };
}

function complete(kernel: KernelArtifacts): boolean {
  return (
    kernel.version !== '' &&
    [kernel.bzImage, kernel.vmlinux, kernel.config].every((path) => existsSync(path)) &&
    existsSync(join(kernel.modulesDir, 'modules.dep'))
  );
}

async function runScript(script: string, args: readonly string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('bash', [join(repoRoot(), 'scripts', script), ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`${what} failed (scripts/${script}): ${(failure.stderr ?? '').trim() || failure.message}`);
  }
}

/**
 * The Debian kernels, fetched and unpacked on first use (apt-get download; needs the Debian archive).
 * With `refresh`, the fetch script runs even when a complete copy exists, picking up a newer Debian kernel.
 */
export async function ensureKernels(options: { dest?: string; refresh?: boolean } = {}): Promise<Kernels> {
  const dest = resolve(repoRoot(), options.dest ?? join('.cache', 'kernels'));
  let kernels = { cloud: kernelArtifacts(join(dest, 'cloud')), generic: kernelArtifacts(join(dest, 'generic')) };
  if (options.refresh || !complete(kernels.cloud) || !complete(kernels.generic)) {
    await runScript('fetch-kernels.sh', [dest], 'fetching the Debian kernels');
    kernels = { cloud: kernelArtifacts(join(dest, 'cloud')), generic: kernelArtifacts(join(dest, 'generic')) };
    for (const [flavour, kernel] of Object.entries(kernels)) {
      if (!complete(kernel)) throw new Error(`scripts/fetch-kernels.sh left an incomplete ${flavour} kernel in ${dest}`);
    }
  }
  return kernels;
}

/** Size and modification time of a file, or of every file under a directory: cheap change detection. */
function fingerprint(path: string): string {
  const stats = statSync(path);
  if (!stats.isDirectory()) return `${stats.size}:${stats.mtimeMs}`;
  return readdirSync(path)
    .sort()
    .map((entry) => `${entry}{${fingerprint(join(path, entry))}}`)
    .join(',');
}

/** The cache key of an initramfs: the build script, busybox, the snippet, the modules and every added file. */
async function initramfsKey(options: InitramfsOptions): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await readFile(join(repoRoot(), 'scripts', 'build-initramfs.sh')));
  hash.update(fingerprint('/bin/busybox'));
  hash.update(JSON.stringify({ snippet: options.initSnippet, modules: options.modules ?? [] }));
  if (existsSync(options.initSnippet)) hash.update(await readFile(options.initSnippet));
  if (options.modulesFrom) {
    hash.update(resolve(options.modulesFrom));
    const modulesDep = join(options.modulesFrom, 'modules.dep');
    if (existsSync(modulesDep)) hash.update(fingerprint(modulesDep));
  }
  for (const { src, dest } of options.add ?? []) {
    if (!existsSync(src)) throw new Error(`initramfs: file to add does not exist: ${src}`);
    hash.update(`${resolve(src)}:${dest}:${fingerprint(src)}`);
  }
  return hash.digest('hex').slice(0, 24);
}

/**
 * Build (or reuse from the cache) a busybox initramfs and return its path. Its /init mounts proc, sys and
 * devtmpfs, loads `modules` with their dependencies, runs `initSnippet`, then powers the machine off.
 */
export async function buildInitramfs(options: InitramfsOptions): Promise<string> {
  if (options.modules?.length && !options.modulesFrom) throw new Error('initramfs: `modules` needs `modulesFrom`');
  for (const { src, dest } of options.add ?? []) {
    if (!dest.startsWith('/')) throw new Error(`initramfs: destination must be an absolute path in the image: ${dest}`);
    if (src.includes(':') || dest.includes(':')) throw new Error(`initramfs: paths must not contain ':': ${src}:${dest}`);
  }
  const out = options.out ?? cacheDir('initramfs', `${await initramfsKey(options)}.cpio.gz`);
  if (!options.out && existsSync(out)) return out;
  await mkdir(dirname(out), { recursive: true });
  const args = ['--out', out, '--init-snippet', options.initSnippet];
  if (options.modulesFrom) args.push('--modules-from', options.modulesFrom);
  if (options.modules?.length) args.push('--modules', options.modules.join(' '));
  for (const { src, dest } of options.add ?? []) args.push('--add', `${src}:${dest}`);
  await runScript('build-initramfs.sh', args, 'building an initramfs');
  return out;
}
