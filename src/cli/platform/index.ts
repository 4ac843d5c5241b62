/**
 * The platform's CLI commands (called from src/cli/main.ts): serve, vm, task,
 * user, token. Storage, volume, image and network groups live beside these
 * (storage engineer) and reuse client.ts / output.ts / follow.ts.
 */
import type { Command } from 'commander';
import { registerServeCommand } from './serve.js';
import { registerVmCommands } from './vm.js';
import { registerTaskCommands, registerTokenCommands, registerUserCommands } from './admin.js';
import { registerStorageCommands } from './storage.js';
import { registerVolumeCommands } from './volume.js';
import { registerImageCommands } from './image.js';
import { registerNetworkCommands } from './network.js';

export function registerPlatformCommands(program: Command): void {
  registerServeCommand(program);
  registerVmCommands(program);
  registerTaskCommands(program);
  registerUserCommands(program);
  registerTokenCommands(program);
  registerStorageCommands(program);
  registerVolumeCommands(program);
  registerImageCommands(program);
  registerNetworkCommands(program);
}

export { ApiClient, CliError, clientFrom, resolveConnection, withConnectionOptions } from './client.js';
export { runTask, watchTask, requireSuccess, type TaskView } from './follow.js';
export { printJson, printTable, formatTable, progressBar, formatBytes } from './output.js';
