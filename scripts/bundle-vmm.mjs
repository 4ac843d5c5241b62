#!/usr/bin/env node
/**
 * Bundles the VMM process (the `typevisor` verbs run, host, vmm, restore, ...
 * and its device and vCPU threads) from the compiled dist/src into dist/bundle:
 * one file per entry plus shared chunks, instead of ~140 module files per
 * process. A VMM's start-up is part of every guest's boot and restore time, and
 * module loading was most of it in the KVM lab, where the repository is read
 * over 9p (issue 2, bench:boot). npm packages stay external (loaded from
 * node_modules), and the platform's modules, which VMM verbs never load, stay
 * in dist/src. bin/typevisor.js uses the bundle for VMM verbs when it exists.
 *
 * Layout constraints the sources rely on: the worker scripts sit next to the
 * module that starts them (thread-pool.ts: new URL('./device-worker.cjs', ...)),
 * and dist/bundle is two levels under the repository (native.ts finds
 * native/build there).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'dist/src');
const out = join(root, 'dist/bundle');
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: {
    main: join(src, 'cli/main.js'),
    'thread-pool': join(src, 'vmm/thread-pool.js'),
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // npm packages are bundled too (commander, fastify and its dependencies): each file read over 9p costs, and the
  // API's packages alone are a few hundred files. They are CommonJS: in an ESM bundle their require() of Node's
  // built-in modules needs a real require, which the banner provides.
  banner: { js: "import { createRequire as __typevisorCreateRequire } from 'node:module'; const require = __typevisorCreateRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
  sourcemap: false,
  logLevel: 'warning',
  plugins: [
    {
      // Platform verbs load the platform from dist/src (it finds its files relative to its own modules).
      name: 'platform-stays-in-dist-src',
      setup(b) {
        b.onResolve({ filter: /\/platform\/index\.js$/ }, () => ({ path: '../src/cli/platform/index.js', external: true }));
      },
    },
  ],
});

// The device and vCPU threads: one self-contained CommonJS script each, which thread-pool.ts prefers to the ES
// modules. A worker that loads an ES module graph first sets up Node's ESM loader and resolves and links every
// module; in the KVM lab a CommonJS script made the threads ready 0.13-0.27 s sooner. import.meta.url (the addon's
// and the builtins' loaders use it) becomes this file's URL.
for (const name of ['device-worker', 'vcpu-worker']) {
  await build({
    entryPoints: [join(src, `vmm/${name}.js`)],
    outfile: join(out, `${name}.cjs`),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    define: { 'import.meta.url': '__typevisorModuleUrl' },
    banner: { js: "const __typevisorModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    sourcemap: false,
    logLevel: 'warning',
  });
}
