/**
 * A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst in QEMU).
 *
 * JSON objects, one per line, over a Unix socket: the server greets with
 * `{"QMP": {...}}`, the client must send `qmp_capabilities` before any other
 * command, commands carry an `id` echoed in their `return`/`error` answer, and
 * asynchronous `{"event": ...}` messages may arrive at any time.
 *
 * Emits 'event' (QmpEvent) and 'close' (once, when the connection ends).
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** An `{"error": {"class", "desc"}}` answer from QEMU. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly description: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${description}`);
    this.name = 'QmpError';
  }
}

/** A message longer than this is not QMP from a sane QEMU; drop the connection. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** Give up on connect + greeting + negotiation after this long. */
  timeoutMs?: number;
  /** Default per-command timeout. */
  commandTimeoutMs?: number;
}

export class QmpClient extends EventEmitter {
  private buffered = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  /** Set once the connection is being torn down; no further message is processed. */
  private failed = false;
  private greetingWaiter: { resolve(v: Record<string, unknown>): void; reject(e: Error): void } | null = null;
  /** The `QMP` member of the greeting (version, capabilities). */
  greeting: Record<string, unknown> = {};

  private constructor(
    private readonly socket: Socket,
    private readonly socketPath: string,
    private readonly commandTimeoutMs: number,
  ) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {
      /* 'close' follows and settles everything */
    });
    socket.on('close', () => this.onClose());
  }

  /** Connect, read the greeting and negotiate capabilities. */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`QMP connect to ${socketPath} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`QMP connect to ${socketPath} failed: ${error.message}`));
      });
    });
    const client = new QmpClient(socket, socketPath, options.commandTimeoutMs ?? 10_000);
    try {
      const greeting = await client.waitGreeting(timeoutMs);
      client.greeting = greeting;
      await client.execute('qmp_capabilities', undefined, timeoutMs);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  get isClosed(): boolean {
    return this.closed || this.failed;
  }

  /** Run one command; resolves with its `return` value, rejects with QmpError on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closed || this.failed) return Promise.reject(new Error(`QMP ${command}: connection to ${this.socketPath} is closed`));
    const id = `tv-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const message: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) message.arguments = args;
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  close(): void {
    if (!this.closed) this.socket.destroy();
  }

  /** Resolves when the connection has closed (at once if it already has). */
  closedPromise(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.once('close', () => resolve()));
  }

  private waitGreeting(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greetingWaiter = null;
        reject(new Error(`QMP server at ${this.socketPath} sent no greeting within ${timeoutMs} ms`));
      }, timeoutMs);
      this.greetingWaiter = {
        resolve: (greeting) => {
          clearTimeout(timer);
          resolve(greeting);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    if (this.buffered.length > MAX_LINE_BYTES) {
      this.fail(new Error(`QMP server at ${this.socketPath} sent a message over ${MAX_LINE_BYTES} bytes`));
      return;
    }
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline).trim();
      this.buffered = this.buffered.slice(newline + 1);
      if (line.length > 0) this.onMessage(line);
      if (this.failed) return;
    }
  }

  private onMessage(line: string): void {
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      message = parsed as Record<string, unknown>;
    } catch {
      this.fail(new Error(`QMP server at ${this.socketPath} sent invalid JSON: ${line.slice(0, 120)}`));
      return;
    }
    if ('QMP' in message) {
      const waiter = this.greetingWaiter;
      this.greetingWaiter = null;
      waiter?.resolve((message.QMP ?? {}) as Record<string, unknown>);
      return;
    }
    if (typeof message.event === 'string') {
      this.emit('event', {
        event: message.event,
        data: (message.data ?? {}) as Record<string, unknown>,
        timestamp: message.timestamp as QmpEvent['timestamp'],
      } satisfies QmpEvent);
      return;
    }
    const id = typeof message.id === 'string' ? message.id : null;
    const pending = id === null ? undefined : this.pending.get(id);
    if (pending === undefined) return; // an answer we timed out on, or not ours
    this.pending.delete(id!);
    clearTimeout(pending.timer);
    if ('return' in message) {
      pending.resolve(message.return);
    } else {
      const error = (message.error ?? {}) as { class?: unknown; desc?: unknown };
      pending.reject(new QmpError(pending.command, String(error.class ?? 'GenericError'), String(error.desc ?? 'no description')));
    }
  }

  private fail(error: Error): void {
    this.failed = true;
    this.buffered = '';
    this.greetingWaiter?.reject(error);
    this.greetingWaiter = null;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.fail(new Error(`QMP connection to ${this.socketPath} closed`));
    this.closed = true;
    this.emit('close');
  }
}
