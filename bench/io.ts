/**
 * `npm run bench:io` (issue 3's benchmark): virtio-blk and virtio-net
 * throughput, typevisor vs QEMU, side by side in one KVM-lab run.
 *
 * Inside L1 (bench/io-l1.ts) the same Debian cloud kernel and the same
 * initramfs boot alternately under `typevisor run` and under
 * `qemu-system-x86_64 -enable-kvm -M q35 -device virtio-blk-pci
 * -device virtio-net-pci` (tap, vhost=off), on the same raw disk file in
 * L1's tmpfs and the same tap (in a bridge whose L1 address runs
 * `iperf3 -s`). The guest measures, per boot:
 *   - sequential write and read, 1 MiB blocks, O_DIRECT, 1 request in flight (MB/s);
 *   - random read, 4 KiB blocks, O_DIRECT, 16 in flight (IOPS);
 *   - TCP guest -> host and host -> guest (iperf3 -R), Mbit/s.
 * Printed: medians over the rounds and typevisor/QEMU ratios (> 1 means
 * typevisor is faster on every row); the whole record goes to
 * .cache/bench/io/results-<time>.json.
 *
 * Tools in the guest:
 *   - TCP: Debian's iperf3 itself (installed by scripts/setup.sh), copied into
 *     the initramfs with the shared libraries `ldd` names.
 *   - Disk: test/guest-tools/diskbench.c, a static C tool (O_DIRECT
 *     pread/pwrite loops, one thread per request in flight, like fio's psync
 *     engine with numjobs=N) instead of fio: Debian's fio links librbd,
 *     librados, libglusterfs, RDMA and PMEM libraries (tens of MiB of
 *     shared objects in every initramfs), and the three access patterns above
 *     are all this benchmark asks of it; the figures are computed the same way
 *     for both VMMs, which is what the ratio needs.
 *
 * Environment: BENCH_RUNS (rounds, default 3), BENCH_IO_SECONDS (per
 * measurement, default 8), BENCH_IO_PROFILE=1 (after the measured
 * rounds, one more typevisor boot under `node --cpu-prof`, not counted: V8
 * profiles of every thread in .cache/bench/io/profiles).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitramfs, ensureKernels } from '../src/lab/artifacts.js';
import { runInLab } from '../src/lab/lab.js';
import { buildDiskbench } from '../test/guest-tools/build.js';
import { repoRoot } from '../test/helpers/repo.js';
import { GUEST_MODULES, guestScript, type Engine, type IoBenchSpec, type IoRunResult } from './io-common.js';
import { median } from './measure.js';

const rounds = Number(process.env['BENCH_RUNS'] ?? 3);
const seconds = Number(process.env['BENCH_IO_SECONDS'] ?? 8);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env['BENCH_RUNS']}`);
if (!(seconds >= 1 && seconds <= 120)) throw new Error(`BENCH_IO_SECONDS must be 1..120, got ${process.env['BENCH_IO_SECONDS']}`);

/** A dynamically linked program with every shared object it loads, as initramfs additions at the same paths. */
function withSharedLibraries(program: string): { src: string; dest: string }[] {
  if (!existsSync(program)) throw new Error(`${program} is missing: run scripts/setup.sh (it installs Debian's iperf3)`);
  const ldd = execFileSync('ldd', [program], { encoding: 'utf8' });
  const files = [program];
  for (const line of ldd.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) files.push(m[1]!);
  }
  if (files.length < 2) throw new Error(`ldd ${program} named no shared libraries:\n${ldd}`);
  // The loader and libraries are symlinks on Debian: copy the file under the name the program asks for.
  return files.map((path) => ({ src: realpathSync(path), dest: path }));
}

const kernels = await ensureKernels();
const initrd = await buildInitramfs({
  initSnippet: guestScript({ seconds, sequentialDepth: 1, randomDepth: 16 }),
  modulesFrom: kernels.cloud.modulesDir,
  modules: GUEST_MODULES,
  add: [{ src: buildDiskbench(), dest: '/bin/diskbench' }, ...withSharedLibraries('/usr/bin/iperf3')],
});
mkdirSync(join(repoRoot(), '.cache/bench/io'), { recursive: true });
// L1 mounts the shares at their real paths before its root is the host's: a symlinked .cache (a git worktree
// sharing another's) must be resolved here.
const dir = realpathSync(join(repoRoot(), '.cache/bench/io'));
// Boot (1-2 min under L1) + five measurements + iperf3's connection setup, with room to spare.
const runTimeoutMs = 300_000 + 5 * (seconds + 20) * 1000;
const spec: IoBenchSpec = {
  kernel: kernels.cloud.bzImage,
  initrd,
  cmdline: 'console=ttyS0 reboot=k panic=-1 quiet',
  memoryMiB: 256,
  cpus: 1,
  diskMiB: 512,
  rounds,
  runTimeoutMs,
  ...(process.env['BENCH_IO_PROFILE'] === '1' ? { profileDir: join(dir, 'profiles') } : {}),
};
if (spec.profileDir) mkdirSync(spec.profileDir, { recursive: true });
const specPath = join(dir, 'spec.json');
const rawPath = join(dir, 'runs.json');
writeFileSync(specPath, JSON.stringify(spec, null, 2));
writeFileSync(rawPath, '[]');

let partial = '';
const lab = await runInLab({
  script: `node dist/bench/io-l1.js ${specPath} ${rawPath}`,
  timeoutMs: 600_000 + 2 * rounds * runTimeoutMs,
  memoryMiB: 4096,
  shareWritable: [dir],
  resultsDir: join(dir, 'lab'),
  // Progress lines of io-l1 as they happen (the run takes many minutes).
  onConsole: (chunk) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.includes('[io-l1 ')) process.stderr.write(`${line.slice(line.indexOf('[io-l1 '))}\n`);
  },
});
const runs = JSON.parse(readFileSync(rawPath, 'utf8')) as IoRunResult[];
if (lab.exitCode !== 0 || runs.length === 0) throw new Error(`I/O benchmark failed in L1 (exit ${lab.exitCode}):\n${lab.output.slice(-4000)}`);

type Row = { label: string; key: 'seqReadMBps' | 'seqWriteMBps' | 'randReadIops' | 'tcpGuestToHostMbps' | 'tcpHostToGuestMbps'; unit: string };
const ROWS: Row[] = [
  { label: 'seq read 1 MiB O_DIRECT', key: 'seqReadMBps', unit: 'MB/s' },
  { label: 'seq write 1 MiB O_DIRECT', key: 'seqWriteMBps', unit: 'MB/s' },
  { label: 'rand read 4 KiB QD16', key: 'randReadIops', unit: 'IOPS' },
  { label: 'TCP guest -> host', key: 'tcpGuestToHostMbps', unit: 'Mbit/s' },
  { label: 'TCP host -> guest', key: 'tcpHostToGuestMbps', unit: 'Mbit/s' },
];
const values = (engine: Engine, key: Row['key']) => runs.filter((r) => r.engine === engine && r[key] !== null).map((r) => r[key]!);
const summary = ROWS.map(({ label, key, unit }) => {
  const tv = median(values('typevisor', key));
  const q = median(values('qemu', key));
  return { label, unit, typevisor: tv, qemu: q, ratio: tv / q, samples: { typevisor: values('typevisor', key), qemu: values('qemu', key) } };
});
const cpu = (engine: Engine) => median(runs.filter((r) => r.engine === engine && r.vmmCpuSeconds !== null).map((r) => r.vmmCpuSeconds!));
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
const outPath = join(dir, `results-${stamp}.json`);
writeFileSync(outPath, JSON.stringify({ spec: { ...spec, seconds }, l1BootMs: lab.l1BootMs, totalMs: lab.totalMs, summary, runs }, null, 2));

const n = (engine: Engine) => runs.filter((r) => r.engine === engine).length;
console.log(`I/O benchmark (KVM lab, L1 up in ${lab.l1BootMs} ms; Debian ${kernels.cloud.version}, ${spec.memoryMiB} MiB, ${spec.cpus} vCPU; ${seconds} s per figure; medians of ${n('typevisor')} typevisor / ${n('qemu')} QEMU q35 runs, interleaved)`);
console.log(`${'what'.padEnd(26)} ${'unit'.padEnd(7)} ${'typevisor'.padStart(10)} ${'qemu'.padStart(10)}   ratio   runs (typevisor | qemu)`);
const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1)).padStart(10);
const list = (xs: number[]) => xs.map((x) => fmt(x).trim()).join(' ');
for (const r of summary) {
  const ratio = (Number.isNaN(r.ratio) ? 'n/a' : r.ratio.toFixed(2)).padStart(5);
  console.log(`${r.label.padEnd(26)} ${r.unit.padEnd(7)} ${fmt(r.typevisor)} ${fmt(r.qemu)}   ${ratio}   ${list(r.samples.typevisor)} | ${list(r.samples.qemu)}`);
}
// Guest time counts too (a vCPU thread in KVM_RUN is the VMM's CPU time): a rough figure, not overhead alone.
console.log(`${'VMM process CPU per boot'.padEnd(26)} ${'s'.padEnd(7)} ${fmt(cpu('typevisor'))} ${fmt(cpu('qemu'))}   ${(cpu('typevisor') / cpu('qemu')).toFixed(2).padStart(5)}`);
const failed = runs.filter((r) => r.errors.length > 0);
for (const r of failed) console.log(`${r.engine} round ${r.round}: ${r.errors.join('; ')}`);
console.log(`(ratio = typevisor / QEMU, higher is better for typevisor; record: ${outPath})`);
if (failed.length > 0) process.exitCode = 1;
