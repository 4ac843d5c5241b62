#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/main.js');
if (!existsSync(entry)) {
  process.stderr.write('typevisor: not built yet: run `npm run build` (or scripts/setup.sh)\n');
  process.exit(1);
}
// VMM verbs: start the device thread and a vCPU thread first, so that they load their modules while this
// thread loads the CLI's (src/vmm/thread-pool.ts; worker start-up is most of a restore's latency otherwise).
if (['restore', 'vmm', 'run'].includes(process.argv[2] ?? '')) {
  const { prestartThreads } = await import(pathToFileURL(join(root, 'dist/src/vmm/thread-pool.js')).href);
  prestartThreads({ device: 1, vcpu: 1 });
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
