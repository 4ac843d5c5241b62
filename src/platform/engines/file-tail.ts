/**
 * Follows a file that another process appends to (a console log), emitting the
 * new bytes in order. inotify (fs.watch) gives low latency; a slow poll covers
 * missed events. A file that shrinks was truncated: reading restarts at 0.
 *
 * The writer is a guest's serial port, so its size is guest-controlled: with
 * `rotate`, once the file reaches `atBytes` it is copied to `toPath` and cut to
 * zero (the writer appends with O_APPEND, so it carries on at the new end).
 *
 * Emits 'data' (Buffer).
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { copyFile, open, type FileHandle } from 'node:fs/promises';

const READ_CHUNK_BYTES = 64 * 1024;

export interface FileTailRotation {
  atBytes: number;
  toPath: string;
}

export class FileTail extends EventEmitter {
  private handle: FileHandle | null = null;
  private watcher: FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private stopped = false;

  constructor(
    private readonly path: string,
    private offset: number,
    private readonly pollMs = 1000,
    private readonly rotate: FileTailRotation | null = null,
  ) {
    super();
  }

  get position(): number {
    return this.offset;
  }

  async start(): Promise<void> {
    this.handle = await open(this.path, 'a+');
    if (this.stopped) {
      await this.handle.close();
      return;
    }
    try {
      this.watcher = watch(this.path, () => this.kick());
      this.watcher.on('error', () => {
        /* the poll keeps working */
      });
    } catch {
      this.watcher = null;
    }
    this.poller = setInterval(() => this.kick(), this.pollMs);
    this.poller.unref();
    this.kick();
  }

  /** Read whatever is new now (also called on every change notification). */
  kick(): void {
    if (this.stopped || this.handle === null || this.queued) return;
    this.queued = true;
    // Reads run one after another, never two over the same bytes.
    this.chain = this.chain
      .then(() => {
        this.queued = false;
        return this.drainAndRotate();
      })
      .catch(() => undefined);
  }

  /** Stop following; with `drain`, first read everything up to the current end. */
  async stop(drain = true): Promise<void> {
    if (this.stopped) return;
    if (drain) this.chain = this.chain.then(() => this.drain()).catch(() => undefined);
    else this.stopped = true;
    await this.chain;
    this.stopped = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }

  private async drainAndRotate(): Promise<void> {
    await this.drain();
    const handle = this.handle;
    if (this.rotate === null || handle === null || this.stopped || this.offset < this.rotate.atBytes) return;
    await copyFile(this.path, this.rotate.toPath);
    await this.drain(); // what arrived during the copy
    // Bytes appended between this drain and the truncation are lost: a window of microseconds.
    await handle.truncate(0);
    this.offset = 0;
  }

  private async drain(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return;
    const { size } = await handle.stat();
    if (size < this.offset) this.offset = 0;
    while (this.offset < size && !this.stopped) {
      const buffer = Buffer.alloc(Math.min(READ_CHUNK_BYTES, size - this.offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      this.emit('data', buffer.subarray(0, bytesRead));
    }
  }
}
