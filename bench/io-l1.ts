/**
 * Inside L1 (`node dist/bench/io-l1.js SPEC.json OUT.json`): the I/O benchmark
 * of bench/io.ts. Boots the same kernel + initramfs alternately under
 * `typevisor run` and `qemu-system-x86_64 -enable-kvm -M q35` (virtio-blk-pci,
 * virtio-net-pci on a tap, no vhost), on the same raw disk file in L1's tmpfs
 * and the same tap in a bridge whose L1 address runs `iperf3 -s`. The guest
 * runs the measurements itself and prints one `TVIOB:` line per figure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/repo.js';
import { GUEST_MAC, GUEST_MARK, HOST_ADDRESS, parseGuestLines, TAP, type Engine, type IoBenchSpec, type IoRunResult } from './io-common.js';


const BRIDGE = 'tvbbr0';
const started = Date.now();
/** Progress on stderr: it reaches the lab's output.log (and the host's terminal) as it happens. */
const step = (what: string) => process.stderr.write(`[io-l1 +${((Date.now() - started) / 1000).toFixed(0)}s] ${what}\n`);

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
}

function commandFor(engine: Engine, spec: IoBenchSpec, disk: string, profile: boolean): [string, string[]] {
  if (engine === 'typevisor') {
    return [
      process.execPath,
      [
        ...(profile && spec.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`] : []),
        join(repoRoot(), 'bin/typevisor.js'), 'run', '--kernel', spec.kernel, '--initrd', spec.initrd, '--cmdline', spec.cmdline,
        '--memory', String(spec.memoryMiB), '--cpus', String(spec.cpus), '--disk', `${disk},format=raw`, '--net', `tap=${TAP},mac=${GUEST_MAC}`,
      ],
    ];
  }
  // Host page cache (cache=writeback) and the thread pool (aio=threads) are QEMU's defaults, and the only
  // choice on tmpfs (no O_DIRECT there); typevisor's raw backend likewise goes through the page cache.
  return [
    'qemu-system-x86_64',
    [
      '-enable-kvm', '-M', 'q35', '-cpu', 'host', '-smp', String(spec.cpus), '-m', String(spec.memoryMiB),
      '-nographic', '-nodefaults', '-no-user-config', '-serial', 'stdio', '-no-reboot',
      '-kernel', spec.kernel, '-initrd', spec.initrd, '-append', spec.cmdline,
      '-drive', `file=${disk},if=none,id=disk0,format=raw,cache=writeback,aio=threads`,
      '-device', 'virtio-blk-pci,drive=disk0',
      '-netdev', `tap,id=net0,ifname=${TAP},script=no,downscript=no,vhost=off`,
      '-device', `virtio-net-pci,netdev=net0,mac=${GUEST_MAC},romfile=`,
    ],
  ];
}

/** utime + stime of a live process, in seconds (proc(5): fields 14 and 15, in clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

async function runOnce(engine: Engine, round: number, spec: IoBenchSpec, disk: string, profile = false): Promise<IoRunResult> {
  // A fresh iperf3 server per VM: a test that died halfway cannot leave it busy for the next VM.
  const server: ChildProcess = spawn('iperf3', ['-s', '-B', HOST_ADDRESS], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const [cmd, args] = commandFor(engine, spec, disk, profile);
  const t0 = performance.now();
  const vm = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let readyMs: number | null = null;
  let lastCpu: number | null = null;
  const lines: string[] = [];
  let pending = '';
  vm.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('latin1');
    out += text;
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      const at = line.indexOf(GUEST_MARK);
      if (at < 0) continue;
      const body = line.slice(at + GUEST_MARK.length).trim();
      lines.push(body);
      if (body === 'ready' && readyMs === null) readyMs = performance.now() - t0;
      step(`${engine} round ${round}: ${body}`);
    }
  });
  vm.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')));
  // Sampled while it runs: the last sample before exit is the VMM's CPU time for the whole run.
  const cpuTimer = setInterval(() => {
    if (vm.pid !== undefined) lastCpu = cpuSeconds(vm.pid) ?? lastCpu;
  }, 250);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    vm.kill('SIGKILL');
  }, spec.runTimeoutMs);
  const exitStatus = await new Promise<number | null>((resolve) => vm.on('close', (code) => resolve(code)));
  clearTimeout(killer);
  clearInterval(cpuTimer);
  server.kill('SIGKILL');
  const parsed = parseGuestLines(lines);
  const complete = lines.includes('done');
  if (!complete) parsed.errors.push(timedOut ? `timed out after ${spec.runTimeoutMs} ms` : `the guest did not finish (exit ${exitStatus})`);
  return {
    engine,
    round,
    ...parsed,
    readyMs,
    vmmCpuSeconds: lastCpu,
    exitStatus,
    timedOut,
    lines,
    ...(complete && parsed.errors.length === 0 ? {} : { tail: out.slice(-3000) }),
  };
}

async function main(): Promise<void> {
  const [specPath, outPath] = process.argv.slice(2);
  if (!specPath || !outPath) throw new Error('usage: io-l1.js SPEC.json OUT.json');
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as IoBenchSpec;
  const work = mkdtempSync('/tmp/tv-bench-io-');
  const disk = join(work, 'disk.raw');
  step('network: tap in a bridge; iperf3 server on the bridge address');
  sh('modprobe -a tun bridge && ip link set lo up');
  sh(`ip link del ${BRIDGE} 2>/dev/null; ip link del ${TAP} 2>/dev/null; ip tuntap add ${TAP} mode tap && ip link add ${BRIDGE} type bridge &&
      ip link set ${TAP} master ${BRIDGE} && ip addr add ${HOST_ADDRESS}/24 dev ${BRIDGE} && ip link set ${TAP} up && ip link set ${BRIDGE} up`);
  // Every block allocated up front (tmpfs), so the first write pass does not measure allocation.
  step(`disk: ${spec.diskMiB} MiB raw file in L1's tmpfs`);
  sh(`dd if=/dev/zero of=${disk} bs=1M count=${spec.diskMiB} status=none`);
  const results: IoRunResult[] = [];
  try {
    for (let round = 0; round < spec.rounds; round++) {
      // Alternate which engine goes first, so a drift in L1 (page cache, host load) does not favour one.
      const order: Engine[] = round % 2 === 0 ? ['typevisor', 'qemu'] : ['qemu', 'typevisor'];
      for (const engine of order) {
        step(`${engine} round ${round}: booting`);
        const result = await runOnce(engine, round, spec, disk);
        step(`${engine} round ${round}: exit ${result.exitStatus}, VMM CPU ${result.vmmCpuSeconds ?? '?'} s${result.errors.length ? `, errors: ${result.errors.join('; ')}` : ''}`);
        results.push(result);
        writeFileSync(outPath, JSON.stringify(results, null, 2));
      }
    }
    if (spec.profileDir) {
      // One more typevisor boot under the profiler, after the measured ones (its figures are not comparable).
      step('typevisor profiled run: booting');
      const profiled = await runOnce('typevisor', -1, spec, disk, true);
      step(`typevisor profiled run: exit ${profiled.exitStatus}; profiles in ${spec.profileDir}`);
      writeFileSync(join(spec.profileDir, 'profiled-run.json'), JSON.stringify(profiled, null, 2));
    }
  } finally {
    spawnSync('sh', ['-c', `ip link del ${BRIDGE}; ip link del ${TAP}`]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
// Leftover timers must not keep L1 up.
process.exit(0);
