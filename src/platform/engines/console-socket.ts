/**
 * The daemon's connection to a VM's serial console socket (a Unix stream socket
 * served by the engine process). It reconnects while the engine process lives,
 * so a dropped connection never loses the console; keystrokes typed while it is
 * down are queued (bounded) and sent on reconnect.
 *
 * Emits 'data' (Buffer) with the bytes the engine sends.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/** Typing that waits for a reconnect beyond this is dropped, oldest first. */
const MAX_QUEUED_INPUT_BYTES = 64 * 1024;
const RECONNECT_DELAY_MS = 250;

export class ConsoleSocket extends EventEmitter {
  private socket: Socket | null = null;
  private connected = false;
  private closed = false;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    /** Asked before each reconnect: false once the engine process is gone. */
    private readonly shouldReconnect: () => boolean,
  ) {
    super();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connect once; resolves true when connected (false: retrying in the background). */
  open(): Promise<boolean> {
    return new Promise((resolve) => this.attempt(resolve));
  }

  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    if (this.connected && this.socket) {
      this.socket.write(data);
      return;
    }
    this.queued.push(Buffer.from(data));
    this.queuedBytes += data.length;
    while (this.queuedBytes > MAX_QUEUED_INPUT_BYTES && this.queued.length > 0) {
      this.queuedBytes -= this.queued.shift()!.length;
    }
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.socket?.destroy();
    this.socket = null;
    this.connected = false;
  }

  private attempt(settle?: (connected: boolean) => void): void {
    if (this.closed) {
      settle?.(false);
      return;
    }
    const socket = connect(this.path);
    this.socket = socket;
    socket.on('connect', () => {
      this.connected = true;
      for (const chunk of this.queued) socket.write(chunk);
      this.queued = [];
      this.queuedBytes = 0;
      settle?.(true);
      settle = undefined;
    });
    socket.on('data', (chunk: Buffer) => this.emit('data', chunk));
    socket.on('error', () => {
      /* 'close' follows */
    });
    socket.on('close', () => {
      this.connected = false;
      if (this.socket === socket) this.socket = null;
      settle?.(false);
      settle = undefined;
      if (this.closed || !this.shouldReconnect()) return;
      this.retry = setTimeout(() => this.attempt(), RECONNECT_DELAY_MS);
      this.retry.unref();
    });
  }
}
