/**
 * Run a shell script in the KVM lab from a terminal, with L1's console streamed live:
 *
 *   node --import tsx src/lab/main.ts [--timeout SECONDS] [--memory MIB] [--cpus N] [--share-writable DIR]... 'SCRIPT'
 *   node dist/src/lab/main.js ...            (after `npm run build`)
 *
 * Exits with the script's exit code, or 125 with a message when the lab itself failed.
 */
import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { LabError, runInLab } from './lab.js';

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`not a positive integer: ${value}`);
  return parsed;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('lab')
    .description('Boot the KVM lab (QEMU TCG L1 with real /dev/kvm) and run SCRIPT inside it')
    .argument('<script>', 'shell script run by sh inside L1 (cwd: the repository)')
    .option('--timeout <seconds>', 'whole-run limit', positiveInteger, 900)
    .option('--memory <MiB>', 'L1 memory', positiveInteger, 4096)
    .option('--cpus <n>', 'L1 vCPUs', positiveInteger, 2)
    .option('--share-writable <dir>', 'host directory L1 may write to (repeatable)', (dir: string, dirs: string[]) => [...dirs, dir], [] as string[])
    .option('--quiet', 'do not stream the L1 console')
    .parse(argv as string[], { from: 'user' });
  const options = program.opts<{ timeout: number; memory: number; cpus: number; shareWritable: string[]; quiet?: boolean }>();
  try {
    const result = await runInLab({
      script: program.args[0] ?? '',
      timeoutMs: options.timeout * 1000,
      memoryMiB: options.memory,
      cpus: options.cpus,
      shareWritable: options.shareWritable,
      onConsole: options.quiet ? undefined : (chunk) => process.stdout.write(chunk),
    });
    if (options.quiet) process.stdout.write(result.output);
    process.stderr.write(
      `lab: exit ${result.exitCode}; L1 up in ${result.l1BootMs} ms, run ${result.totalMs} ms; results in ${result.resultsDir}\n`,
    );
    return result.exitCode;
  } catch (error) {
    process.stderr.write(`${error instanceof LabError || error instanceof Error ? error.message : String(error)}\n`);
    return 125;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Exit through process.exit so that runInLab's exit hook stops the L1 (it runs in its own process group).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  process.exitCode = await main(process.argv.slice(2));
}
