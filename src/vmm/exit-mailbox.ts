/**
 * How a vCPU thread hands a port-I/O or MMIO exit to the device thread and
 * waits for the answer, without any event loop: a SharedArrayBuffer slot per
 * vCPU, an eventfd doorbell the device thread polls in epoll_wait, and
 * Atomics.wait/notify for the reply.
 *
 * Slot layout (Int32 words): state, kind, size, count, addrLo, addrHi, then
 * DATA_BYTES bytes of data (string I/O moves size*count bytes at once).
 */

export const MAILBOX_STATE_IDLE = 0;
export const MAILBOX_STATE_REQUEST = 1;
export const MAILBOX_STATE_DONE = 2;

export const enum ExitKind {
  PioRead = 0,
  PioWrite = 1,
  MmioRead = 2,
  MmioWrite = 3,
}

const WORD_STATE = 0;
const WORD_KIND = 1;
const WORD_SIZE = 2;
const WORD_COUNT = 3;
const WORD_ADDR_LO = 4;
const WORD_ADDR_HI = 5;
const HEADER_BYTES = 32;
export const DATA_BYTES = 4096;
export const SLOT_BYTES = HEADER_BYTES + DATA_BYTES;

export class ExitMailbox {
  readonly words: Int32Array;
  readonly data: Uint8Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly index: number,
  ) {
    this.words = new Int32Array(buffer, index * SLOT_BYTES, HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, index * SLOT_BYTES + HEADER_BYTES, DATA_BYTES);
  }

  static allocate(vcpus: number): SharedArrayBuffer {
    return new SharedArrayBuffer(vcpus * SLOT_BYTES);
  }

  // ---- vCPU side ----
  post(kind: ExitKind, address: number, size: number, count: number): void {
    const w = this.words;
    w[WORD_KIND] = kind;
    w[WORD_SIZE] = size;
    w[WORD_COUNT] = count;
    w[WORD_ADDR_LO] = address % 0x1_0000_0000;
    w[WORD_ADDR_HI] = Math.floor(address / 0x1_0000_0000);
    Atomics.store(w, WORD_STATE, MAILBOX_STATE_REQUEST);
  }

  /** Blocks the vCPU thread until the device thread answered. */
  awaitDone(): void {
    while (Atomics.load(this.words, WORD_STATE) === MAILBOX_STATE_REQUEST) {
      Atomics.wait(this.words, WORD_STATE, MAILBOX_STATE_REQUEST, 1000);
    }
    Atomics.store(this.words, WORD_STATE, MAILBOX_STATE_IDLE);
  }

  // ---- device side ----
  pending(): boolean {
    return Atomics.load(this.words, WORD_STATE) === MAILBOX_STATE_REQUEST;
  }
  get kind(): ExitKind {
    return this.words[WORD_KIND]!;
  }
  get size(): number {
    return this.words[WORD_SIZE]!;
  }
  get count(): number {
    return this.words[WORD_COUNT]!;
  }
  get address(): number {
    return (this.words[WORD_ADDR_HI]! >>> 0) * 0x1_0000_0000 + (this.words[WORD_ADDR_LO]! >>> 0);
  }
  complete(): void {
    Atomics.store(this.words, WORD_STATE, MAILBOX_STATE_DONE);
    Atomics.notify(this.words, WORD_STATE);
  }
}

/** Shared run-control words: the pause/stop protocol between main and vCPU threads. */
export const CONTROL_RUN_STATE = 0; // 0 running, 1 pause requested, 2 stop requested
export const CONTROL_PAUSED_COUNT = 1; // vCPUs currently parked
export const CONTROL_EXITED_COUNT = 2; // vCPU threads that left their loop
export const RUN_STATE_RUNNING = 0;
export const RUN_STATE_PAUSE = 1;
export const RUN_STATE_STOP = 2;
export const CONTROL_WORDS = 4;
