/**
 * TYPEVISOR_DEBUG=1 traces VM construction, restore and thread start-up on
 * stderr. Each line carries the wall-clock time in epoch milliseconds (so lines
 * from the main thread, from workers and from a benchmark that spawned the
 * process line up) and the milliseconds since this process started.
 * Written with writeSync so a worker's line is not queued behind the main
 * thread's event loop.
 */
import { writeSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

const enabled = process.env['TYPEVISOR_DEBUG'] !== undefined && process.env['TYPEVISOR_DEBUG'] !== '';
/** Whether TYPEVISOR_DEBUG tracing is on (for hooks that cost something even when they print nothing). */
export const tracing = enabled;

/** When the process started, in epoch ms (a worker's own timeOrigin is its thread's start). */
function processStartEpochMs(): number {
  return Date.now() - process.uptime() * 1000;
}

export function debug(message: string): void {
  if (!enabled) return;
  const now = performance.timeOrigin + performance.now();
  const since = now - processStartEpochMs();
  const where = isMainThread ? 'main' : `thread ${threadId}`;
  writeSync(2, `typevisor-debug: t=${now.toFixed(1)} +${since.toFixed(1)}ms [${where}] ${message}\n`);
}
