/** Files of one typevisor VMM under its run directory. */
import { join } from 'node:path';

export interface TypevisorRunPaths {
  runDir: string;
  apiSocket: string;
  consoleSocket: string;
  /** Written by the engine right after spawning (the VMM needs no pid-file option). */
  pidFile: string;
  /** The VMM's stdout and stderr. */
  vmmLog: string;
  /** Written by the VMM just before it exits (vmm-api.ts VmmExitRecord). */
  exitRecord: string;
}

export function typevisorRunPaths(runDir: string): TypevisorRunPaths {
  return {
    runDir,
    apiSocket: join(runDir, 'api.sock'),
    consoleSocket: join(runDir, 'console.sock'),
    pidFile: join(runDir, 'vmm.pid'),
    vmmLog: join(runDir, 'vmm.log'),
    exitRecord: join(runDir, 'exit.json'),
  };
}

/** The argv of a VMM process for this run directory (after the node binary). */
export function vmmArguments(entryPoint: string, paths: TypevisorRunPaths, id: string): string[] {
  return [entryPoint, 'vmm', '--api-sock', paths.apiSocket, '--console-sock', paths.consoleSocket, '--id', id];
}

/** Whether an argv (from /proc/[pid]/cmdline) is the VMM of this run directory. */
export function isOurVmm(argv: readonly string[], paths: TypevisorRunPaths): boolean {
  const index = argv.indexOf('--api-sock');
  return index >= 0 && argv[index + 1] === paths.apiSocket && argv.includes('vmm');
}
