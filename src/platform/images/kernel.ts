/**
 * The Debian cloud kernel (linux-image-cloud-amd64) for images that boot
 * without their own: downloaded with `apt-get download` (the host's
 * configured mirror), unpacked once per package version into the cache.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { runLogged, withDirLock, type BuildLog } from './host-tools.js';

const execFileAsync = promisify(execFile);

export interface UnpackedKernel {
  /** e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  vmlinuz: string;
  /** lib/modules/<release> (with modules.dep from depmod). */
  modulesDir: string;
  packageKey: string;
}

async function resolvePackage(meta: string): Promise<{ name: string; version: string }> {
  const { stdout } = await execFileAsync('apt-cache', ['depends', meta]);
  const name = /Depends: (linux-image-\S+)/.exec(stdout)?.[1];
  if (!name) throw new Error(`cannot resolve ${meta} to a linux-image package (apt-cache depends ${meta}); run apt-get update`);
  const policy = (await execFileAsync('apt-cache', ['policy', name])).stdout;
  const version = /Candidate: (\S+)/.exec(policy)?.[1];
  if (!version || version === '(none)') throw new Error(`no installable version of ${name}`);
  return { name, version };
}

export async function debianCloudKernel(cacheDir: string, log: BuildLog): Promise<UnpackedKernel> {
  const { name, version } = await resolvePackage('linux-image-cloud-amd64');
  const key = `${name}=${version}`;
  const root = path.join(cacheDir, 'kernels');
  const out = path.join(root, key.replace(/[^A-Za-z0-9.+_-]/g, '_'));
  return withDirLock(root, async () => {
    try {
      const info = JSON.parse(await fs.readFile(path.join(out, 'kernel.json'), 'utf8')) as UnpackedKernel;
      log.log(`kernel ${key} cached`);
      return info;
    } catch {
      // not cached yet
    }
    log.log(`downloading kernel ${key}`);
    const work = await fs.mkdtemp(path.join(root, '.work-'));
    try {
      await fs.chmod(work, 0o777); // apt-get download drops to the _apt user
      await runLogged('apt-get', ['download', '-q', key], log, { cwd: work });
      const deb = (await fs.readdir(work)).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${key} produced no .deb`);
      await runLogged('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'root')], log);
      const release = (await fs.readdir(path.join(work, 'root', 'lib', 'modules')))[0];
      if (!release) throw new Error(`${deb} has no lib/modules/<release>`);
      await runLogged('depmod', ['-b', path.join(work, 'root'), release], log);
      const staged = path.join(work, 'staged');
      await fs.mkdir(staged);
      await fs.rename(path.join(work, 'root', 'boot', `vmlinuz-${release}`), path.join(staged, 'vmlinuz'));
      await fs.rename(path.join(work, 'root', 'lib', 'modules', release), path.join(staged, 'modules'));
      const info: UnpackedKernel = {
        release,
        vmlinuz: path.join(out, 'vmlinuz'),
        modulesDir: path.join(out, 'modules'),
        packageKey: key,
      };
      await fs.writeFile(path.join(staged, 'kernel.json'), JSON.stringify(info, null, 2));
      await fs.rm(out, { recursive: true, force: true });
      await fs.rename(staged, out);
      return info;
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
}

/**
 * The module files (paths relative to lib/modules/<release>) that loading `names` needs, dependencies first,
 * read from depmod's modules.dep ("kernel/fs/vfat.ko: kernel/fs/fat.ko" — each line lists a module's whole
 * dependency closure). Names built into the kernel (modules.builtin) need nothing; an unknown name throws.
 */
export function moduleFiles(modulesDep: string, modulesBuiltin: string, names: readonly string[]): string[] {
  const canonical = (file: string) => path.basename(file).replace(/\.ko(\.\w+)?$/, '').replaceAll('-', '_');
  const deps = new Map<string, { file: string; needs: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line.trim());
    if (m) deps.set(canonical(m[1] as string), { file: m[1] as string, needs: (m[2] as string).split(/\s+/).filter(Boolean) });
  }
  const builtin = new Set(modulesBuiltin.split('\n').filter(Boolean).map(canonical));
  const out: string[] = [];
  for (const name of names) {
    const key = name.replaceAll('-', '_');
    const entry = deps.get(key);
    if (!entry) {
      if (builtin.has(key)) continue;
      throw new Error(`kernel module ${name} is neither in modules.dep nor built in`);
    }
    // modules.dep lists dependencies in load-reverse order (the last one loads first).
    for (const file of [...entry.needs].reverse().concat(entry.file)) if (!out.includes(file)) out.push(file);
  }
  return out;
}

/**
 * Installs the modules `names` (with their dependencies) of an unpacked kernel into `root`/lib/modules/<release>
 * and runs depmod there, so modprobe and udev inside the guest find them. The rest of the kernel's modules stay out.
 */
export async function installKernelModules(kernel: UnpackedKernel, names: readonly string[], root: string, log: BuildLog): Promise<string[]> {
  const read = (f: string) => fs.readFile(path.join(kernel.modulesDir, f), 'utf8');
  const files = moduleFiles(await read('modules.dep'), await read('modules.builtin'), names);
  const dest = path.join(root, 'lib', 'modules', kernel.release);
  for (const file of files) {
    await fs.mkdir(path.dirname(path.join(dest, file)), { recursive: true });
    await fs.copyFile(path.join(kernel.modulesDir, file), path.join(dest, file));
  }
  // depmod needs the built-in lists to tell "built in" from "missing".
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) await fs.copyFile(path.join(kernel.modulesDir, f), path.join(dest, f));
  await runLogged('depmod', ['-b', root, kernel.release], log);
  return files;
}
