/**
 * `npm run bench:boot` (issue 2): in the KVM lab, the same L2 kernel, initramfs
 * and command line booted by typevisor and by `qemu-system-x86_64 -enable-kvm
 * -M microvm`, runs interleaved. Prints medians of spawn -> init marker and of
 * peak VMM memory overhead (RSS minus guest RAM), and typevisor/QEMU ratios.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitramfs, ensureKernels } from '../src/lab/artifacts.js';
import { runInLab } from '../src/lab/lab.js';
import { repoRoot } from '../test/helpers/repo.js';
import { median, type RunMeasurement } from './measure.js';

const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const kernels = await ensureKernels();
const marker = 'TVB: init reached';
const initrd = await buildInitramfs({ initSnippet: `echo "${marker}"; poweroff -f` });
const dir = join(repoRoot(), '.cache/bench/boot');
mkdirSync(dir, { recursive: true });
const spec = { kernel: kernels.cloud.bzImage, initrd, cmdline: 'console=ttyS0 reboot=k panic=-1 quiet', memoryMiB: 256, runs, marker };
writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
const lab = await runInLab({ script: `node dist/bench/boot-l1.js ${join(dir, 'spec.json')} ${join(dir, 'results.json')}`, timeoutMs: 3_600_000, shareWritable: [dir] });
if (lab.exitCode !== 0) throw new Error(`boot benchmark failed in L1:\n${lab.output}`);
const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Record<'typevisor' | 'qemu', RunMeasurement[]>;
const row = (name: 'typevisor' | 'qemu') => {
  const ok = r[name].filter((m) => m.markerMs !== null);
  return { boot: median(ok.map((m) => m.markerMs!)), overhead: median(r[name].map((m) => m.peakOverheadBytes)) / 2 ** 20, n: ok.length, of: r[name].length };
};
const tv = row('typevisor');
const q = row('qemu');
console.log(`boot benchmark (KVM lab, L1 up in ${lab.l1BootMs} ms; ${runs} interleaved runs each; Debian ${kernels.cloud.version}, 256 MiB, 1 vCPU)`);
console.log(`                      typevisor      qemu microvm   ratio`);
console.log(`spawn -> init (ms)    ${tv.boot.toFixed(0).padStart(9)}      ${q.boot.toFixed(0).padStart(9)}      ${(tv.boot / q.boot).toFixed(2)}`);
console.log(`overhead (MiB)        ${tv.overhead.toFixed(1).padStart(9)}      ${q.overhead.toFixed(1).padStart(9)}      ${(tv.overhead / q.overhead).toFixed(2)}`);
console.log(`successful boots      ${tv.n}/${tv.of}            ${q.n}/${q.of}`);
