/**
 * Runs the platform's CLI commands (serve, vm, task, user, token) under tsx for the tests, without the rest of
 * src/cli/main.ts (whose VMM commands load the whole VMM).
 */
import { Command } from 'commander';
import { registerPlatformCommands } from '../../src/cli/platform/index.js';

const program = new Command().name('typevisor').exitOverride();
registerPlatformCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = (e as { exitCode?: number }).exitCode;
  if (code !== undefined) process.exit(code);
  process.stderr.write(`typevisor: error: ${(e as Error).message}\n`);
  process.exit(1);
}
