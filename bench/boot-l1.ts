/** Inside L1: interleaved boots of typevisor and QEMU microvm on the same kernel/initramfs/cmdline. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/repo.js';
import { measureRun, type RunMeasurement } from './measure.js';

const [specPath, outPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath!, 'utf8')) as { kernel: string; initrd: string; cmdline: string; memoryMiB: number; runs: number; marker: string };
const guestBytes = spec.memoryMiB * 1024 * 1024;
const results: Record<string, RunMeasurement[]> = { typevisor: [], qemu: [] };
for (let i = 0; i < spec.runs; i++) {
  results['typevisor']!.push(
    await measureRun(process.execPath, [join(repoRoot(), 'bin/typevisor.js'), 'run', '--kernel', spec.kernel, '--initrd', spec.initrd, '--cmdline', spec.cmdline, '--memory', String(spec.memoryMiB)], spec.marker, guestBytes, 300_000),
  );
  results['qemu']!.push(
    await measureRun('qemu-system-x86_64', ['-enable-kvm', '-M', 'microvm', '-cpu', 'host', '-m', String(spec.memoryMiB), '-smp', '1', '-nographic', '-nodefaults', '-no-user-config', '-serial', 'stdio', '-no-reboot', '-kernel', spec.kernel, '-initrd', spec.initrd, '-append', spec.cmdline], spec.marker, guestBytes, 300_000),
  );
  writeFileSync(outPath!, JSON.stringify(results, null, 2));
}
