/**
 * Restoring a snapshot, the device thread builds its devices while the main thread puts the vCPUs' and the
 * irqchip's state back, and restores the devices' state only after that: a restored device may signal an interrupt
 * at once, and a later KVM_SET_LAPIC or KVM_SET_IRQCHIP would discard it. One shared Int32 word says how the CPU
 * restore went.
 */
const PENDING = 0;
const RESTORED = 1;
const FAILED = 2;

export class CpuStateGate {
  private readonly word: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.word = new Int32Array(buffer, 0, 1);
  }

  /** Main thread: the vCPUs and the irqchip hold the snapshot's state (`true`), or their restore failed. */
  open(restored: boolean): void {
    Atomics.store(this.word, 0, restored ? RESTORED : FAILED);
    Atomics.notify(this.word, 0);
  }

  /** Device thread: blocks until the main thread opened the gate; whether the CPU state was restored. */
  waitOpen(): boolean {
    Atomics.wait(this.word, 0, PENDING);
    return Atomics.load(this.word, 0) === RESTORED;
  }
}
