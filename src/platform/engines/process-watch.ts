/**
 * Notices when an engine process ends, whether or not it is our child.
 *
 * After a daemon restart the engine process is no longer our child, so there is
 * no SIGCHLD: poll /proc every `intervalMs`, comparing the pid's start time so a
 * recycled pid is never taken for our process. When it still is our child, the
 * ChildProcess 'exit' event answers at once and knows the exit code or signal.
 */
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { isAlive, type ProcessIdentity } from './proc.js';

export interface ProcessEnd {
  /** Known only for our own children. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Emits 'exit' (ProcessEnd) once. */
export class ProcessWatch extends EventEmitter {
  private timer: NodeJS.Timeout | null = null;
  private done = false;
  private polling = false;
  private readonly onChildExit = (code: number | null, signal: NodeJS.Signals | null) => this.finish({ code, signal });

  constructor(
    readonly identity: ProcessIdentity,
    private readonly child: ChildProcess | undefined,
    private readonly intervalMs = 500,
  ) {
    super();
    if (child) {
      if (child.exitCode !== null || child.signalCode !== null) {
        queueMicrotask(() => this.finish({ code: child.exitCode, signal: child.signalCode }));
      } else {
        child.once('exit', this.onChildExit);
      }
    }
    this.schedule();
  }

  get exited(): boolean {
    return this.done;
  }

  /** Resolves true when the process ended within `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<boolean> {
    if (this.done) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('exit', onExit);
        resolve(false);
      }, timeoutMs);
      const onExit = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('exit', onExit);
    });
  }

  /** Look now instead of at the next poll (e.g. the engine's control socket just closed). */
  check(): void {
    if (this.done) return;
    if (this.timer) clearTimeout(this.timer);
    void this.poll();
  }

  /** Stop watching without reporting anything (detach). */
  stop(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.child?.off('exit', this.onChildExit);
  }

  private schedule(): void {
    if (this.done) return;
    // Kept referenced: whoever waits for the exit needs the event loop alive; detach() stops it.
    this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (this.done || this.polling) return;
    this.polling = true;
    let alive = true;
    try {
      alive = await isAlive(this.identity);
    } catch {
      alive = true; // an unreadable /proc entry is not a death; look again next time
    } finally {
      this.polling = false;
    }
    if (this.done) return;
    if (alive) {
      this.schedule();
    } else if (this.child === undefined) {
      this.finish({ code: null, signal: null });
    } else {
      // Our own child: its 'exit' event follows the reap and carries the code; wait briefly for it.
      setTimeout(() => this.finish({ code: this.child!.exitCode, signal: this.child!.signalCode }), 200);
    }
  }

  private finish(end: ProcessEnd): void {
    if (this.done) return;
    this.stop();
    this.emit('exit', end);
  }
}
