/**
 * A VM's recent serial output: a ring of the last `capacity` bytes in memory
 * (replayed to each new console viewer) mirrored to a log file in the VM's
 * run directory, so the history survives a daemon restart. The file is cut
 * back to the last `capacity` bytes whenever it grows past `maxFileBytes`.
 */
import { appendFileSync, existsSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs';

export const CONSOLE_HISTORY_BYTES = 256 * 1024;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export class ConsoleBuffer {
  private ring: Buffer;
  private start = 0;
  private length = 0;
  private fileBytes = 0;

  constructor(
    private readonly file: string | null,
    readonly capacity = CONSOLE_HISTORY_BYTES,
    private readonly maxFileBytes = MAX_FILE_BYTES,
  ) {
    this.ring = Buffer.alloc(capacity);
    if (file && existsSync(file)) {
      this.fileBytes = statSync(file).size;
      this.pushToRing(readTail(file, capacity));
    }
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pushToRing(chunk);
    if (!this.file) return;
    try {
      if (this.fileBytes + chunk.length > this.maxFileBytes) {
        const all = this.snapshot();
        writeFileSync(this.file, all);
        this.fileBytes = all.length;
      } else {
        appendFileSync(this.file, chunk);
        this.fileBytes += chunk.length;
      }
    } catch {
      // The run directory vanished (VM being deleted): the ring still works.
    }
  }

  /** The buffered bytes, oldest first. */
  snapshot(): Buffer {
    const end = this.start + this.length;
    if (end <= this.capacity) return Buffer.from(this.ring.subarray(this.start, end));
    return Buffer.concat([this.ring.subarray(this.start), this.ring.subarray(0, end - this.capacity)]);
  }

  private pushToRing(chunk: Buffer): void {
    if (chunk.length >= this.capacity) {
      chunk.copy(this.ring, 0, chunk.length - this.capacity);
      this.start = 0;
      this.length = this.capacity;
      return;
    }
    const writeAt = (this.start + this.length) % this.capacity;
    const first = Math.min(chunk.length, this.capacity - writeAt);
    chunk.copy(this.ring, writeAt, 0, first);
    chunk.copy(this.ring, 0, first);
    const overflow = this.length + chunk.length - this.capacity;
    if (overflow > 0) {
      this.start = (this.start + overflow) % this.capacity;
      this.length = this.capacity;
    } else {
      this.length += chunk.length;
    }
  }
}

function readTail(file: string, bytes: number): Buffer {
  const size = statSync(file).size;
  const n = Math.min(size, bytes);
  const buf = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, n, size - n);
  } finally {
    closeSync(fd);
  }
  return buf;
}
