/**
 * The `typevisor` command. VMM verbs (run, host) run locally; platform verbs
 * (serve, vm, task, ...) talk to or start the node daemon.
 */
import { Command, CommanderError } from 'commander';
import { registerRunCommand } from './run.js';
import { registerHostCommand } from './host.js';
import { registerVmmCommands } from './vmm-commands.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('typevisor')
    .description('a KVM hypervisor platform in TypeScript')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerRunCommand(program);
  registerHostCommand(program);
  registerVmmCommands(program);
  await registerOptional(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    process.stderr.write(`typevisor: error: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** Command groups of the platform; registered when their modules are present in this build. */
async function registerOptional(program: Command): Promise<void> {
  const groups: Array<[string, string]> = [
    ['./platform/index.js', 'registerPlatformCommands'],
    ['./platform/storage.js', 'registerStorageCommands'],
    ['./platform/volume.js', 'registerVolumeCommands'],
    ['./platform/image.js', 'registerImageCommands'],
    ['./platform/network.js', 'registerNetworkCommands'],
  ];
  for (const [path, fn] of groups) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(path)) as Record<string, unknown>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(path.slice(2))) continue;
      throw e;
    }
    const register = mod[fn];
    if (typeof register === 'function') (register as (p: Command) => void)(program);
  }
}
