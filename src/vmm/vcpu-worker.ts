/**
 * A vCPU thread (worker_threads): loops on KVM_RUN and hands port-I/O and
 * MMIO exits to the device thread through its ExitMailbox. It never waits on
 * an event loop: it blocks in KVM_RUN, in Atomics.wait for a reply, or parked
 * while the VM is paused (ARCHITECTURE.md "Threads inside one VMM process").
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { ThreadInit } from './thread-pool.js';
import { EINTR, native } from '../sys/native.js';
import { debug } from './startup-trace.js';
import { Vcpu, type VcpuShared } from '../kvm/vcpu.js';
import {
  KVM_EXIT,
  KVM_EXIT_IO_OUT,
  KVM_SYSTEM_EVENT_CRASH,
  KVM_SYSTEM_EVENT_RESET,
  KVM_SYSTEM_EVENT_SHUTDOWN,
  exitReasonName,
} from '../kvm/ioctls.js';
import { KVM_RUN_MMIO_DATA_OFFSET, kvmRun } from '../kvm/structs.js';
import {
  CONTROL_EXITED_COUNT,
  CONTROL_PAUSED_COUNT,
  CONTROL_RUN_STATE,
  DATA_BYTES,
  ExitKind,
  ExitMailbox,
  exitSpinFromEnv,
  RUN_STATE_PAUSE,
  RUN_STATE_RUNNING,
  RUN_STATE_STOP,
} from './exit-mailbox.js';

export interface VcpuWorkerData {
  vcpu: VcpuShared;
  mailbox: SharedArrayBuffer;
  control: SharedArrayBuffer;
  exitCounters: SharedArrayBuffer;
  doorbellFd: number;
  kickSignal: number;
}

/** Messages a vCPU thread sends to the main thread. */
export type VcpuMessage =
  | { type: 'ready'; index: number; tid: number }
  | { type: 'system-event'; index: number; event: 'shutdown' | 'reset' | 'triple-fault' | 'crash'; detail: string }
  | { type: 'error'; index: number; message: string };

/** Per-vCPU exit counters (Float64 slots), for metrics: indexed by EXIT_COUNTER_*. */
export const EXIT_COUNTER_IO = 0;
export const EXIT_COUNTER_MMIO = 1;
export const EXIT_COUNTER_INTR = 2;
export const EXIT_COUNTER_OTHER = 3;
export const EXIT_COUNTERS_PER_VCPU = 4;

const EAGAIN = 11;

function main(data: VcpuWorkerData): void {
  debug('vCPU thread: running');
  const vcpu = Vcpu.fromShared(data.vcpu);
  const index = vcpu.index;
  const mailbox = new ExitMailbox(data.mailbox, index);
  const control = new Int32Array(data.control);
  const counters = new Float64Array(data.exitCounters, index * EXIT_COUNTERS_PER_VCPU * 8, EXIT_COUNTERS_PER_VCPU);
  const run = vcpu.run;
  const runView = new DataView(run.buffer, run.byteOffset, run.byteLength);
  const post = (m: VcpuMessage): void => parentPort!.postMessage(m);

  native().unblockSignal(data.kickSignal);
  post({ type: 'ready', index, tid: native().gettid() });

  const doorbell = (): void => {
    native().eventfdWrite(data.doorbellFd, 1);
  };
  const spinMicros = exitSpinFromEnv().vcpuMicros;

  // Set after a port I/O or MMIO exit was answered: KVM finishes the instruction (writes an IN's or MMIO read's
  // value to the register, advances a string op) only on the next KVM_RUN.
  let exitAwaitsCompletion = false;
  for (;;) {
    const state = Atomics.load(control, CONTROL_RUN_STATE);
    if (state === RUN_STATE_STOP) break;
    if (state === RUN_STATE_PAUSE && !exitAwaitsCompletion) {
      Atomics.add(control, CONTROL_PAUSED_COUNT, 1);
      Atomics.notify(control, CONTROL_PAUSED_COUNT);
      while (Atomics.load(control, CONTROL_RUN_STATE) === RUN_STATE_PAUSE) {
        Atomics.wait(control, CONTROL_RUN_STATE, RUN_STATE_PAUSE);
      }
      Atomics.sub(control, CONTROL_PAUSED_COUNT, 1);
      Atomics.notify(control, CONTROL_PAUSED_COUNT);
      continue;
    }
    // Pausing with an answered exit: a snapshot taken now would save the half-done instruction. KVM API doc
    // (KVM_RUN): re-enter with immediate_exit set "to complete pending operations without allowing any further
    // instructions to be executed". That returns -EINTR, or another exit (the next round of a rep ins/outs), which
    // is served below like any other before the vCPU parks.
    run[1] = state === RUN_STATE_RUNNING ? 0 : 1;
    const r = vcpu.runOnce();
    exitAwaitsCompletion = false;
    if (r < 0) {
      if (r === -EINTR || r === -EAGAIN) {
        counters[EXIT_COUNTER_INTR]!++;
        continue; // kicked: the loop head reads why
      }
      post({ type: 'error', index, message: `KVM_RUN failed: ${native().strerror(-r)}` });
      break;
    }

    const reason = runView.getUint32(kvmRun.fields.exit_reason.offset, true);
    switch (reason) {
      case KVM_EXIT.IO: {
        counters[EXIT_COUNTER_IO]!++;
        const dir = run[kvmRun.fields.io_direction.offset]!;
        const size = run[kvmRun.fields.io_size.offset]!;
        const port = runView.getUint16(kvmRun.fields.io_port.offset, true);
        const count = runView.getUint32(kvmRun.fields.io_count.offset, true);
        const dataOffset = Number(runView.getBigUint64(kvmRun.fields.io_data_offset.offset, true));
        const bytes = size * count;
        if (bytes > DATA_BYTES || dataOffset + bytes > run.length) {
          post({ type: 'error', index, message: `port I/O exit too large (${size}x${count} at ${port})` });
          Atomics.store(control, CONTROL_RUN_STATE, RUN_STATE_STOP);
          break;
        }
        if (dir === KVM_EXIT_IO_OUT) mailbox.data.set(run.subarray(dataOffset, dataOffset + bytes));
        if (mailbox.post(dir === KVM_EXIT_IO_OUT ? ExitKind.PioWrite : ExitKind.PioRead, port, size, count)) doorbell();
        mailbox.awaitDone(spinMicros);
        if (dir !== KVM_EXIT_IO_OUT) run.set(mailbox.data.subarray(0, bytes), dataOffset);
        exitAwaitsCompletion = true;
        break;
      }
      case KVM_EXIT.MMIO: {
        counters[EXIT_COUNTER_MMIO]!++;
        const address = Number(runView.getBigUint64(kvmRun.fields.mmio_phys_addr.offset, true));
        const len = runView.getUint32(kvmRun.fields.mmio_len.offset, true);
        const isWrite = run[kvmRun.fields.mmio_is_write.offset]! !== 0;
        if (len > 8) break;
        if (isWrite) mailbox.data.set(run.subarray(KVM_RUN_MMIO_DATA_OFFSET, KVM_RUN_MMIO_DATA_OFFSET + len));
        if (mailbox.post(isWrite ? ExitKind.MmioWrite : ExitKind.MmioRead, address, len, 1)) doorbell();
        mailbox.awaitDone(spinMicros);
        if (!isWrite) run.set(mailbox.data.subarray(0, len), KVM_RUN_MMIO_DATA_OFFSET);
        exitAwaitsCompletion = true;
        break;
      }
      case KVM_EXIT.HLT:
      case KVM_EXIT.IRQ_WINDOW_OPEN:
      case KVM_EXIT.INTR:
        counters[EXIT_COUNTER_OTHER]!++;
        break;
      case KVM_EXIT.SHUTDOWN:
        // Triple fault: on a PC this resets the machine.
        post({ type: 'system-event', index, event: 'triple-fault', detail: 'triple fault (KVM_EXIT_SHUTDOWN)' });
        Atomics.store(control, CONTROL_RUN_STATE, RUN_STATE_STOP);
        break;
      case KVM_EXIT.SYSTEM_EVENT: {
        const type = runView.getUint32(kvmRun.fields.system_event_type.offset, true);
        const event =
          type === KVM_SYSTEM_EVENT_SHUTDOWN ? 'shutdown' : type === KVM_SYSTEM_EVENT_RESET ? 'reset' : 'crash';
        post({ type: 'system-event', index, event, detail: `KVM_EXIT_SYSTEM_EVENT type ${type}` });
        if (type === KVM_SYSTEM_EVENT_CRASH || event !== 'crash') Atomics.store(control, CONTROL_RUN_STATE, RUN_STATE_STOP);
        break;
      }
      default: {
        let where = '';
        try {
          const regs = vcpu.getRegs();
          where = ` at rip=0x${regs.rip.toString(16)}`;
        } catch {
          // registers unavailable: report the exit alone
        }
        const extra =
          reason === KVM_EXIT.INTERNAL_ERROR
            ? ` suberror ${runView.getUint32(kvmRun.fields.internal_suberror.offset, true)}`
            : reason === KVM_EXIT.FAIL_ENTRY
              ? ` hardware reason 0x${runView.getBigUint64(kvmRun.fields.fail_entry_reason.offset, true).toString(16)}`
              : '';
        post({ type: 'error', index, message: `vCPU ${index} stopped on ${exitReasonName(reason)}${extra}${where}` });
        Atomics.store(control, CONTROL_RUN_STATE, RUN_STATE_STOP);
      }
    }
  }
  Atomics.add(control, CONTROL_EXITED_COUNT, 1);
  Atomics.notify(control, CONTROL_EXITED_COUNT);
}

// Only as a worker: the main thread imports this module for its types and constants.
// A thread pre-started by thread-pool.ts has no workerData yet: it waits for it.
if (!isMainThread) {
  debug('vCPU thread: modules loaded');
  if (workerData) main(workerData as VcpuWorkerData);
  else {
    parentPort!.once('message', (m: ThreadInit<VcpuWorkerData>) => main(m.data));
    // Idle until then: load the native addon now rather than while a VM waits for this thread (~90 ms in the lab).
    native();
    debug('vCPU thread: native addon loaded');
  }
}
