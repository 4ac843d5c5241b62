/**
 * virtio-console with a single port (virtio 1.2 §5.3): receiveq0 carries
 * host input to the guest, transmitq0 guest output to the host. Linux binds
 * it to /dev/hvc0. VIRTIO_CONSOLE_F_SIZE reports the terminal size and
 * VIRTIO_CONSOLE_F_EMERG_WRITE lets the guest write single characters
 * through config space before the queues are up.
 */
import { VirtioDeviceType, featureBit } from '../constants.js';
import { emptyMetrics, type VirtioActivation, type VirtioDevice, type VirtioDeviceMetrics } from '../device.js';
import { ChainReader, ChainWriter } from '../queue/chain.js';

export const VirtioConsoleFeature = {
  SIZE: 0,
  MULTIPORT: 1,
  EMERG_WRITE: 2,
} as const;

/** struct virtio_console_config (§5.3.4). */
export const VirtioConsoleConfig = {
  COLS: 0, // le16
  ROWS: 2, // le16
  MAX_NR_PORTS: 4, // le32
  EMERG_WR: 8, // le32
  SIZE: 12,
} as const;

export const CONSOLE_RECEIVE_QUEUE = 0;
export const CONSOLE_TRANSMIT_QUEUE = 1;

export interface ConsoleOptions {
  /** Guest output (hvc0 writes and emergency writes). */
  output: (bytes: Uint8Array) => void;
  /** Polled by onBackendReady(): host input to forward, or null when none is waiting. */
  readInput?: () => Uint8Array | null;
  cols?: number;
  rows?: number;
  queueSize?: number;
  /** Host input kept while the guest has no receive buffers; beyond this, input is dropped. */
  maxPendingInput?: number;
}

export interface ConsoleStateV1 {
  version: 1;
  cols: number;
  rows: number;
  /** Input not yet delivered, base64. */
  pendingInput: string;
  metrics: VirtioDeviceMetrics;
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceType = VirtioDeviceType.CONSOLE;
  readonly name = 'console';
  readonly queueMaxSizes: readonly number[];
  readonly features = featureBit(VirtioConsoleFeature.SIZE) | featureBit(VirtioConsoleFeature.EMERG_WRITE);
  readonly configSize = VirtioConsoleConfig.SIZE;
  private cols: number;
  private rows: number;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly maxPendingInput: number;
  private ctx: VirtioActivation | null = null;
  private counters = emptyMetrics();

  constructor(private readonly options: ConsoleOptions) {
    this.cols = options.cols ?? 80;
    this.rows = options.rows ?? 25;
    const size = options.queueSize ?? 256;
    this.queueMaxSizes = [size, size];
    this.maxPendingInput = options.maxPendingInput ?? 1 << 20;
    this.counters.droppedInputBytes = 0;
  }

  readConfig(offset: number, data: Uint8Array): void {
    const image = new Uint8Array(VirtioConsoleConfig.SIZE);
    const v = new DataView(image.buffer);
    v.setUint16(VirtioConsoleConfig.COLS, this.cols, true);
    v.setUint16(VirtioConsoleConfig.ROWS, this.rows, true);
    v.setUint32(VirtioConsoleConfig.MAX_NR_PORTS, 1, true);
    data.set(image.subarray(offset, offset + data.length));
  }

  writeConfig(offset: number, data: Uint8Array): void {
    // §5.3.6.2: a write to emerg_wr outputs its low byte on port 0.
    if (offset === VirtioConsoleConfig.EMERG_WR && data.length === 4) {
      this.counters.bytesFromGuest++;
      this.options.output(Uint8Array.of(data[0]!));
    }
  }

  /** Host terminal resized: update the config and tell the driver. */
  resize(cols: number, rows: number): void {
    this.cols = cols & 0xffff;
    this.rows = rows & 0xffff;
    this.ctx?.interrupt.signalConfigChange();
  }

  activate(ctx: VirtioActivation): void {
    this.ctx = ctx;
    this.deliverInput();
  }

  /** Host input for the guest; delivered now if the guest has receive buffers, else kept (bounded). */
  enqueueInput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const room = this.maxPendingInput - this.pendingBytes;
    if (room <= 0) {
      this.counters.droppedInputBytes! += bytes.length;
      return;
    }
    const kept = bytes.length > room ? bytes.slice(0, room) : bytes.slice();
    this.counters.droppedInputBytes! += bytes.length - kept.length;
    this.pending.push(kept);
    this.pendingBytes += kept.length;
    try {
      this.deliverInput();
    } catch (error) {
      // Host-initiated: no transport frame above us to catch a guest error.
      this.ctx?.fail?.(error);
    }
  }

  onBackendReady(): void {
    const read = this.options.readInput;
    if (!read) return;
    // Bounded: at most as much as we can hold, then the rest waits for the next readiness.
    for (let chunk = read(); chunk && chunk.length > 0; chunk = this.pendingBytes < this.maxPendingInput ? read() : null) {
      this.enqueueInput(chunk);
    }
  }

  processQueue(index: number): void {
    if (index === CONSOLE_RECEIVE_QUEUE) this.deliverInput();
    else if (index === CONSOLE_TRANSMIT_QUEUE) this.transmit();
  }

  private deliverInput(): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[CONSOLE_RECEIVE_QUEUE];
    if (!ctx || !queue?.isActive || this.pendingBytes === 0) return;
    let completed = 0;
    while (this.pendingBytes > 0) {
      const chain = queue.pop();
      if (!chain) break;
      const writer = new ChainWriter(ctx.memory, chain.writable);
      while (this.pending.length > 0 && writer.remaining > 0) {
        const head = this.pending[0]!;
        const n = writer.writeSome(head);
        this.pendingBytes -= n;
        if (n === head.length) this.pending.shift();
        else this.pending[0] = head.subarray(n);
      }
      queue.pushUsed(chain.head, writer.position);
      this.counters.bytesToGuest += writer.position;
      this.counters.requests++;
      completed++;
    }
    if (completed > 0) ctx.interrupt.signalUsed(CONSOLE_RECEIVE_QUEUE);
  }

  private transmit(): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[CONSOLE_TRANSMIT_QUEUE];
    if (!ctx || !queue?.isActive) return;
    let completed = 0;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const bytes = new ChainReader(ctx.memory, chain.readable).readAll();
      if (bytes.length > 0) this.options.output(bytes);
      queue.pushUsed(chain.head, 0);
      this.counters.bytesFromGuest += bytes.length;
      this.counters.requests++;
      completed++;
    }
    if (completed > 0) ctx.interrupt.signalUsed(CONSOLE_TRANSMIT_QUEUE);
  }

  reset(): void {
    this.ctx = null;
  }

  save(): ConsoleStateV1 {
    const all = new Uint8Array(this.pendingBytes);
    let at = 0;
    for (const p of this.pending) {
      all.set(p, at);
      at += p.length;
    }
    return { version: 1, cols: this.cols, rows: this.rows, pendingInput: Buffer.from(all).toString('base64'), metrics: { ...this.counters } };
  }

  restore(state: unknown): void {
    const s = state as ConsoleStateV1;
    if (s?.version !== 1) throw new Error('virtio-console state: unsupported version');
    this.cols = s.cols;
    this.rows = s.rows;
    const input = new Uint8Array(Buffer.from(s.pendingInput, 'base64'));
    this.pending = input.length > 0 ? [input] : [];
    this.pendingBytes = input.length;
    this.counters = { ...emptyMetrics(), droppedInputBytes: 0, ...s.metrics };
  }

  metrics(): VirtioDeviceMetrics {
    return { ...this.counters };
  }
}
