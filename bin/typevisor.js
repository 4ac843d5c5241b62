#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm run build writes dist/).
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/main.js');
if (!existsSync(entry)) {
  process.stderr.write('typevisor: not built yet: run `npm run build` (or scripts/setup.sh)\n');
  process.exit(1);
}
// The same verbs as VMM_VERBS in src/cli/main.ts (this file decides which build to load, so it cannot import it).
const vmmVerb = ['run', 'host', 'vmm', 'pause', 'resume', 'info', 'shutdown', 'snapshot', 'restore'].includes(process.argv[2] ?? '');
// VMM verbs load the bundled VMM (scripts/bundle-vmm.mjs: a few files instead of ~140 modules per thread) unless it
// is missing, older than the compiled sources (a `tsc` without the bundling step), or TYPEVISOR_NO_BUNDLE is set.
const bundle = join(root, 'dist/bundle');
const useBundle =
  vmmVerb &&
  !process.env['TYPEVISOR_NO_BUNDLE'] &&
  existsSync(join(bundle, 'main.js')) &&
  statSync(join(bundle, 'main.js')).mtimeMs >= statSync(entry).mtimeMs;
if (vmmVerb && process.env['TYPEVISOR_DEBUG']) process.stderr.write(`typevisor-debug: VMM modules from ${useBundle ? 'dist/bundle' : 'dist/src'}\n`);
const modules = useBundle
  ? { threadPool: join(bundle, 'thread-pool.js'), main: join(bundle, 'main.js') }
  : { threadPool: join(root, 'dist/src/vmm/thread-pool.js'), main: entry };
// VMM verbs that build a VM: start the device thread and a vCPU thread first, so that they load their modules while
// this thread loads the CLI's (src/vmm/thread-pool.ts; worker start-up is most of a restore's latency otherwise).
if (['restore', 'vmm', 'run'].includes(process.argv[2] ?? '')) {
  const { prestartThreads } = await import(pathToFileURL(modules.threadPool).href);
  prestartThreads({ device: 1, vcpu: 1 });
}
const { main } = await import(pathToFileURL(modules.main).href);
await main(process.argv);
