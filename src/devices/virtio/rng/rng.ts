/**
 * virtio-rng (virtio 1.2 §5.4): one request queue; the device fills each
 * device-writable buffer with entropy. No config space, no feature bits.
 */
import { VirtioDeviceType } from '../constants.js';
import { emptyMetrics, type VirtioActivation, type VirtioDevice, type VirtioDeviceMetrics } from '../device.js';
import { ChainWriter } from '../queue/chain.js';

export type EntropySource = (buffer: Uint8Array) => void;

/** crypto.getRandomValues accepts at most 65536 bytes per call. */
const ENTROPY_CHUNK = 65536;

export const defaultEntropy: EntropySource = (buffer) => {
  for (let at = 0; at < buffer.length; at += ENTROPY_CHUNK) {
    globalThis.crypto.getRandomValues(buffer.subarray(at, Math.min(buffer.length, at + ENTROPY_CHUNK)));
  }
};

export interface RngOptions {
  entropy?: EntropySource;
  queueSize?: number;
  /** Largest number of bytes served per request (bounds the work one guest request can cause). */
  maxBytesPerRequest?: number;
}

export interface RngStateV1 {
  version: 1;
  metrics: VirtioDeviceMetrics;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VirtioDeviceType.RNG;
  readonly name = 'rng';
  readonly queueMaxSizes: readonly number[];
  readonly features = 0n;
  readonly configSize = 0;
  private readonly entropy: EntropySource;
  private readonly maxBytesPerRequest: number;
  private ctx: VirtioActivation | null = null;
  private counters = emptyMetrics();

  constructor(options: RngOptions = {}) {
    this.entropy = options.entropy ?? defaultEntropy;
    this.queueMaxSizes = [options.queueSize ?? 256];
    this.maxBytesPerRequest = options.maxBytesPerRequest ?? 64 * 1024;
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(): void {}

  activate(ctx: VirtioActivation): void {
    this.ctx = ctx;
  }

  processQueue(index: number): void {
    const ctx = this.ctx;
    if (!ctx || index !== 0) return;
    const queue = ctx.queues[0]!;
    let completed = 0;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const writer = new ChainWriter(ctx.memory, chain.writable);
      const written = writer.fillWith(Math.min(writer.remaining, this.maxBytesPerRequest), this.entropy);
      queue.pushUsed(chain.head, written);
      this.counters.requests++;
      this.counters.bytesToGuest += written;
      completed++;
    }
    if (completed > 0) ctx.interrupt.signalUsed(0);
  }

  reset(): void {
    this.ctx = null;
  }

  save(): RngStateV1 {
    return { version: 1, metrics: { ...this.counters } };
  }

  restore(state: unknown): void {
    const s = state as RngStateV1;
    if (s?.version !== 1) throw new Error('virtio-rng state: unsupported version');
    this.counters = { ...emptyMetrics(), ...s.metrics };
  }

  metrics(): VirtioDeviceMetrics {
    return { ...this.counters };
  }
}
