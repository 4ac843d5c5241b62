/**
 * How a vCPU thread hands a port-I/O or MMIO exit to the device thread and
 * waits for the answer, without any event loop: a SharedArrayBuffer slot per
 * vCPU, an eventfd doorbell the device thread polls in epoll_wait, and
 * Atomics.wait/notify for the reply.
 *
 * Slot layout (Int32 words): state, kind, size, count, addrLo, addrHi, then
 * DATA_BYTES bytes of data (string I/O moves size*count bytes at once). After
 * the slots, one shared word says whether the device thread is polling the
 * slots (see DevicePoller).
 *
 * Exits come in bursts (a console line is two exits per byte, PCI enumeration
 * a few thousand), and a thread woken from a futex or epoll_wait costs far more
 * than the request itself, most of all under nested virtualization (KVM lab:
 * ~1 ms per console byte against QEMU's ~0.2 ms). So both sides spin briefly
 * before they sleep: the device thread keeps polling the slots for a while
 * after it served an exit (and a vCPU then posts without the doorbell), and a
 * vCPU polls for its answer before it waits. On real hardware an answer takes
 * microseconds, so the polls end almost at once. In the KVM lab, a serial
 * console boot (2 vCPUs, every kernel message on ttyS0) went from the first
 * kernel line to /init in 46.9 s without polling, 40.1 s with 1 ms/0.2 ms and
 * 33.2 s with the 3 ms/2 ms defaults (QEMU: 13 s).
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
/** The shared words after the slots: [0] = 1 while the device thread polls the slots. */
const SHARED_BYTES = 64;
const SHARED_DEVICE_POLLING = 0;

/**
 * How long each side polls before it sleeps, in microseconds. TYPEVISOR_EXIT_SPIN_US="DEVICE,VCPU" overrides the
 * defaults ("0,0" turns polling off).
 */
export interface ExitSpin {
  readonly deviceMicros: number;
  readonly vcpuMicros: number;
}

export function exitSpinFromEnv(value = process.env['TYPEVISOR_EXIT_SPIN_US']): ExitSpin {
  const defaults = { deviceMicros: 3000, vcpuMicros: 2000 };
  if (!value) return defaults;
  const [device, vcpu] = value.split(',').map((x) => Number(x));
  const valid = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n >= 0 && n <= 100_000;
  return { deviceMicros: valid(device) ? device : defaults.deviceMicros, vcpuMicros: valid(vcpu) ? vcpu : defaults.vcpuMicros };
}

export class ExitMailbox {
  readonly words: Int32Array;
  readonly data: Uint8Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly index: number,
  ) {
    this.words = new Int32Array(buffer, index * SLOT_BYTES, HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, index * SLOT_BYTES + HEADER_BYTES, DATA_BYTES);
    this.shared = sharedWords(buffer);
  }

  private readonly shared: Int32Array;

  static allocate(vcpus: number): SharedArrayBuffer {
    return new SharedArrayBuffer(vcpus * SLOT_BYTES + SHARED_BYTES);
  }

  // ---- vCPU side ----
  /** Posts a request; returns whether the device thread must be woken (it is not polling the slots). */
  post(kind: ExitKind, address: number, size: number, count: number): boolean {
    const w = this.words;
    w[WORD_KIND] = kind;
    w[WORD_SIZE] = size;
    w[WORD_COUNT] = count;
    w[WORD_ADDR_LO] = address % 0x1_0000_0000;
    w[WORD_ADDR_HI] = Math.floor(address / 0x1_0000_0000);
    // Both sequentially consistent: either this load sees the device thread's "stopped polling", or the device
    // thread's last look at the slots (after it stopped polling, DevicePoller.stop) sees this request.
    Atomics.store(w, WORD_STATE, MAILBOX_STATE_REQUEST);
    return Atomics.load(this.shared, SHARED_DEVICE_POLLING) === 0;
  }

  /** Blocks the vCPU thread until the device thread answered: polls for `spinMicros` first, then waits. */
  awaitDone(spinMicros = 0): void {
    if (spinMicros > 0 && Atomics.load(this.words, WORD_STATE) === MAILBOX_STATE_REQUEST) {
      const deadline = performance.now() + spinMicros / 1000;
      while (Atomics.load(this.words, WORD_STATE) === MAILBOX_STATE_REQUEST && performance.now() < deadline);
    }
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

function sharedWords(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer, buffer.byteLength - SHARED_BYTES, SHARED_BYTES / 4);
}

/**
 * The device thread's side of the polling: `served` after serving an exit keeps it polling until `spinMicros` pass
 * without one; `expired` says when to stop, and `stop` clears the flag the vCPUs read. After `stop` the caller looks
 * at every slot once more before it sleeps.
 */
export class DevicePoller {
  private readonly shared: Int32Array;
  private deadline = 0;
  private polling = false;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly spinMicros: number,
  ) {
    this.shared = sharedWords(buffer);
  }

  get active(): boolean {
    return this.polling;
  }

  /** An exit was just served: poll (on) for another `spinMicros`. */
  served(): void {
    if (this.spinMicros <= 0) return;
    this.deadline = performance.now() + this.spinMicros / 1000;
    if (!this.polling) {
      this.polling = true;
      Atomics.store(this.shared, SHARED_DEVICE_POLLING, 1);
    }
  }

  /** Whether polling should end now (no exit for `spinMicros`). */
  expired(): boolean {
    return this.polling && performance.now() >= this.deadline;
  }

  stop(): void {
    this.polling = false;
    Atomics.store(this.shared, SHARED_DEVICE_POLLING, 0);
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
