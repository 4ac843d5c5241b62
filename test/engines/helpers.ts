/** Shared bits of the engine integration tests. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { ExitReason, RunningVm, VmRunState } from '../../src/platform/engines/engine.js';
import { identify } from '../../src/platform/engines/proc.js';

export const quietLog: Logger = pino({ level: process.env.ENGINES_TEST_LOG ?? 'silent' });

/** Short run directories (Unix socket paths are limited to 107 bytes). */
export async function makeRunDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `tve-${prefix}-`));
}

/** Collects a VM's console output and waits for text in it. */
export class ConsoleCapture {
  text = '';
  private waiters: Array<() => void> = [];

  constructor(vm: RunningVm) {
    vm.on('console', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves with the index just past `needle`, searched from `from`. */
  async waitFor(needle: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.text.slice(from);
      if (typeof needle === 'string') {
        const at = tail.indexOf(needle);
        if (at >= 0) return from + at + needle.length;
      } else {
        const match = needle.exec(tail);
        if (match) return from + match.index + match[0].length;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`console never showed ${String(needle)} within ${timeoutMs} ms; last output: ${JSON.stringify(this.text.slice(-400))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export function nextExit(vm: RunningVm, timeoutMs: number): Promise<ExitReason> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`VM pid ${vm.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    vm.once('exit', (reason: ExitReason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

export function nextState(vm: RunningVm, timeoutMs: number): Promise<VmRunState> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`VM pid ${vm.pid} reported no state change within ${timeoutMs} ms`)), timeoutMs);
    vm.once('state', (state: VmRunState) => {
      clearTimeout(timer);
      resolve(state);
    });
  });
}

/** Whether the process runs (a zombie, not yet reaped by its parent, has ended). */
export async function processExists(pid: number): Promise<boolean> {
  return (await identify(pid)) !== null;
}

/** A host tap device for a test NIC, up so the guest's frames are counted; returns a remover. */
export async function createTap(name: string): Promise<() => Promise<void>> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  await run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
  await run('ip', ['link', 'set', name, 'up']);
  return async () => {
    await run('ip', ['link', 'del', name]).catch(() => undefined);
  };
}

/**
 * A script beside this one, runnable by a child node: the .ts source under tsx
 * (`node --import tsx --test`), or the compiled .js under dist/ (scripts/run-tests.mjs).
 */
export function siblingScript(name: string): { path: string; nodeArgs: string[] } {
  const compiled = import.meta.filename.endsWith('.js');
  return {
    path: join(import.meta.dirname, `${name}${compiled ? '.js' : '.ts'}`),
    nodeArgs: compiled ? [] : ['--import', import.meta.resolve('tsx')],
  };
}
