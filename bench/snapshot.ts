/**
 * `npm run bench:snapshot` (issue 4): snapshot create and restore of a 256 MiB
 * and a 1 GiB guest, typevisor vs QEMU (migrate to a file / -incoming), in
 * the KVM lab, same test guest for both. Prints times and ratios.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestGuest } from '../test/guest/build.js';
import { runInLab } from '../src/lab/lab.js';
import { repoRoot } from '../test/helpers/repo.js';

const dir = join(repoRoot(), '.cache/bench/snapshot');
mkdirSync(dir, { recursive: true });
// A copy of the guest: .cache/test-guest keeps one build, and a checkout with other guest sources sharing
// .cache may replace it while L1 runs.
const guest = join(dir, 'guest.elf');
copyFileSync(await buildTestGuest(), guest);
writeFileSync(join(dir, 'spec.json'), JSON.stringify({ guest, sizesMiB: [256, 1024] }));
// TYPEVISOR_DEBUG=1 npm run bench:snapshot: the VMMs in L1 trace their start-up with timestamps; the
// traces are kept in .cache/bench/snapshot/trace-*.log, next to the spawn and API-call times.
const spin = process.env['TYPEVISOR_EXIT_SPIN_US'];
const labEnv = {
  ...(process.env['TYPEVISOR_DEBUG'] ? { TYPEVISOR_DEBUG: '1', SNAPSHOT_BENCH_TRACE_DIR: dir } : {}),
  // The exit hand-off's polling times (exit-mailbox.ts), to compare settings.
  ...(spin ? { TYPEVISOR_EXIT_SPIN_US: spin } : {}),
};
const lab = await runInLab({
  script: `node dist/bench/snapshot-l1.js ${join(dir, 'spec.json')} ${join(dir, 'results.json')}`,
  timeoutMs: 3_600_000,
  memoryMiB: 6144,
  shareWritable: [dir],
  env: labEnv,
});
if (lab.exitCode !== 0) throw new Error(`snapshot benchmark failed in L1:\n${lab.output}`);
const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as any[];
const f = (x: number) => `${x.toFixed(0)} ms`.padStart(10);
console.log(`snapshot benchmark (KVM lab, L1 up in ${lab.l1BootMs} ms; counting test guest)`);
console.log('guest     what                         typevisor        qemu   ratio');
for (const r of results) {
  const rows: Array<[string, number, number]> = [
    ['snapshot create', r.typevisor.createMs, r.qemu.createMs],
    ['restore: spawn -> running', r.typevisor.spawnToRunningMs, r.qemu.spawnToRunningMs],
    ['restore: API call -> resumed', r.typevisor.apiToResumedMs, r.qemu.contMs],
  ];
  for (const [what, a, b] of rows) console.log(`${String(r.memoryMiB).padStart(4)} MiB  ${what.padEnd(28)} ${f(a)} ${f(b)}   ${(a / b).toFixed(2)}`);
}
const sizes = new Map(results.map((r) => [r.memoryMiB, r.typevisor.nodeBareMs as number]));
console.log(`bare \`node -e 0\` in L1: ${[...sizes.values()].map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
console.log(`typevisor vmm: waited ${results.map((r) => `${(r.typevisor.threadsReadyWaitMs as number).toFixed(0)} ms`).join(', ')} beyond 200 ms after its socket appeared for its pre-started threads to load`);
console.log(`typevisor API call -> resumed, each try: ${results.map((r) => `${r.memoryMiB} MiB ${(r.typevisor.apiToResumedAllMs as number[]).join(', ')} ms`).join('; ')} (median above)`);
console.log('(QEMU "API call -> resumed" is `cont` after -incoming finished loading; typevisor\'s is PUT /snapshot/load with resume_vm)');
