/**
 * The `typevisor` command. VMM verbs (run, host, vmm, pause, ...) run locally
 * and load only the VMM; platform verbs (serve, vm, task, image, ...) load the
 * platform's modules. Keeping the two apart keeps `typevisor run` quick to
 * start, which is part of a guest's boot time.
 */
import { Command, CommanderError } from 'commander';
import { registerRunCommand } from './run.js';
import { registerHostCommand } from './host.js';
import { registerVmmCommands } from './vmm-commands.js';
import { debug } from '../vmm/startup-trace.js';

const VMM_VERBS = new Set(['run', 'host', 'vmm', 'pause', 'resume', 'info', 'shutdown', 'snapshot', 'restore']);

export async function main(argv: string[]): Promise<void> {
  debug(`CLI modules loaded (${argv[2] ?? 'no verb'})`);
  const program = new Command();
  program
    .name('typevisor')
    .description('a KVM hypervisor platform in TypeScript')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const verb = argv[2];
  if (verb !== undefined && VMM_VERBS.has(verb)) {
    // A VMM verb registers only its own command: V8 compiling the others' set-up is ~0.1 s of a boot in the KVM lab.
    const register = verb === 'run' ? registerRunCommand : verb === 'host' ? registerHostCommand : registerVmmCommands;
    register(program);
  } else {
    registerRunCommand(program);
    registerHostCommand(program);
    registerVmmCommands(program);
    const { registerPlatformCommands } = await import('./platform/index.js');
    registerPlatformCommands(program);
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    process.stderr.write(`typevisor: error: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
