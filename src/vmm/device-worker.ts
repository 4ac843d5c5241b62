/**
 * The device thread: owns every device, waits in epoll_wait on the exit
 * doorbell, the control doorbell and (later) ioeventfds and backend fds, and
 * answers vCPU exits synchronously. No event loop runs here.
 */
import { isMainThread, parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import type { ThreadHint, ThreadInit } from './thread-pool.js';
import { writeSync } from 'node:fs';
import { check, EPOLLIN, EPOLL_CTL_ADD, native } from '../sys/native.js';
import { Vm } from '../kvm/vm.js';
import { GuestRam, type SharedGuestRam } from './guest-ram.js';
import type { RegionGuestMemory } from '../memory/guest-memory.js';
import { DevicePoller, ExitMailbox, exitSpinFromEnv } from './exit-mailbox.js';
import { debug } from './startup-trace.js';
import { CpuStateGate } from './cpu-state-gate.js';
import { warmUpDeviceCode } from './device-warm-up.js';
import { writeFirmwareTables, type FirmwareTablesOptions } from '../arch/x86_64/firmware-tables.js';
import { GsiRouter } from './irq-routing.js';
import { DeviceManager, type DevicesStateV1 } from './device-manager.js';
import type { VmConfig } from './config.js';
import { EFD_NONBLOCK, EPOLLET, EPOLL_CTL_DEL } from '../sys/native.js';
import type { VirtioPciTransport } from '../devices/virtio/transport/pci.js';

/** What the control API reports about the balloon (sizes in MiB). */
export interface BalloonInfo {
  targetMiB: number;
  actualMiB: number;
  statistics: Record<string, number> | null;
  statisticsAt: string | null;
}

export interface DeviceWorkerData {
  config: VmConfig;
  vmFd: number;
  ram: SharedGuestRam;
  vcpus: number;
  mailbox: SharedArrayBuffer;
  exitDoorbellFd: number;
  controlDoorbellFd: number;
  /** Where guest console output goes (stdout, or a console socket). */
  consoleFd: number;
  port: MessagePort;
  /** Device state from a snapshot, restored before the vCPUs run. */
  restoreState?: DevicesStateV1 | undefined;
  /**
   * With a restore whose vCPU state the main thread puts back while this thread builds the devices: the device
   * state is restored once the gate is open (cpu-state-gate.ts).
   */
  cpuStateGate?: SharedArrayBuffer | undefined;
  /**
   * A fresh boot: the firmware tables (ACPI, MP table) to write into guest RAM before the vCPUs run. Here rather
   * than on the main thread, which loads the kernel meanwhile: a pre-started device thread has compiled the table
   * builders while idle (device-warm-up.ts); on the main thread, compiling them was 0.2-0.45 s (ACPI) and
   * 0.05-0.1 s (MP table) of a boot in the KVM lab.
   */
  firmwareTables?: FirmwareTablesOptions | undefined;
}

/** main -> device thread. */
export type DeviceCommand =
  | { type: 'console-input'; bytes: Uint8Array }
  | { type: 'power-button' }
  | { type: 'ctrl-alt-del' }
  | { type: 'save'; id: number }
  | { type: 'dump'; id: number }
  | { type: 'balloon-set'; id: number; targetMiB: number }
  | { type: 'balloon-get'; id: number }
  | { type: 'metrics'; id: number }
  | { type: 'stop' };

/** device thread -> main. */
export type DeviceEvent =
  | { type: 'ready' }
  | { type: 'poweroff' }
  | { type: 'reset'; reason: string }
  | { type: 'console'; text: string }
  | { type: 'saved'; id: number; state: DevicesStateV1 }
  | { type: 'dumped'; id: number; text: string }
  | { type: 'balloon'; id: number; info: BalloonInfo | null; error?: string }
  | { type: 'console-output'; bytes: Uint8Array }
  | { type: 'metrics'; id: number; devices: Array<{ name: string; metrics: Record<string, number> }> }
  | { type: 'error'; message: string };

const TAG_EXIT = 1;
const TAG_CONTROL = 2;

function main(data: DeviceWorkerData): void {
  debug('device thread: running');
  const port = data.port;
  const send = (e: DeviceEvent): void => port.postMessage(e);
  const vm = new Vm(data.vmFd);
  const memory = attachRam(data.ram);
  const router = new GsiRouter(vm);
  debug('device thread: VM and guest RAM attached');

  // Keep the last console line so a panic can be reported in words.
  let consoleTail = '';
  const devices = new DeviceManager({
    config: data.config,
    ram: data.ram,
    memory,
    router,
    onConsoleOutput: (bytes) => {
      if (data.consoleFd < 0) {
        send({ type: 'console-output', bytes: bytes.slice() });
        consoleTail = (consoleTail + Buffer.from(bytes).toString('latin1')).slice(-4096);
        return;
      }
      let off = 0;
      while (off < bytes.length) {
        const n = native().write(data.consoleFd, bytes.subarray(off));
        if (n <= 0) break; // console gone: the guest keeps running
        off += n;
      }
      consoleTail = (consoleTail + Buffer.from(bytes).toString('latin1')).slice(-4096);
    },
    onPowerOff: () => send({ type: 'poweroff' }),
    onReset: (reason) => send({ type: 'reset', reason: reasonWithPanic(reason, consoleTail) }),
  });

  debug('device thread: device models built');
  const mailboxes = Array.from({ length: data.vcpus }, (_, i) => new ExitMailbox(data.mailbox, i));
  const epfd = check(native().epollCreate(), 'epoll_create');
  check(native().epollCtl(epfd, EPOLL_CTL_ADD, data.exitDoorbellFd, EPOLLIN, TAG_EXIT), 'epoll_ctl exit doorbell');
  check(native().epollCtl(epfd, EPOLL_CTL_ADD, data.controlDoorbellFd, EPOLLIN, TAG_CONTROL), 'epoll_ctl control');
  // Queue notifications: one ioeventfd per queue notify address, so a guest kick
  // is an eventfd write inside KVM, never an exit (issue 3). Re-registered when
  // the guest moves a BAR.
  interface Notifier {
    fd: number;
    address: number;
    transport: VirtioPciTransport;
    queue: number;
  }
  let notifiers: Notifier[] = [];
  const TAG_NOTIFY_BASE = 1000;
  const TAG_BACKEND_BASE = 100000;
  const registerNotifiers = (): void => {
    for (const n of notifiers) {
      vm.ioeventfd(n.fd, n.address, 0, { deassign: true });
      native().epollCtl(epfd, EPOLL_CTL_DEL, n.fd, 0, 0);
      native().close(n.fd);
    }
    notifiers = [];
    for (const f of devices.virtio.functions) {
      for (const { address, queue } of f.transport.notifyAddresses()) {
        if (address === 0) continue;
        const fd = check(native().eventfd(0, EFD_NONBLOCK), 'eventfd');
        vm.ioeventfd(fd, address, 0);
        const tag = TAG_NOTIFY_BASE + notifiers.length;
        check(native().epollCtl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, tag), 'epoll_ctl ioeventfd');
        notifiers.push({ fd, address, transport: f.transport, queue });
      }
    }
  };
  debug('device thread: devices built, epoll set');
  let restoreDevices = data.restoreState !== undefined;
  if (restoreDevices && data.cpuStateGate) {
    // When the CPU restore failed the machine is being torn down: restore nothing on it.
    restoreDevices = new CpuStateGate(data.cpuStateGate).waitOpen();
    debug(`device thread: CPU state ${restoreDevices ? 'restored' : 'failed'}`);
  }
  // One KVM_SET_GSI_ROUTING for every MSI-X vector a restore programs, not one each.
  router.batch(() => {
    devices.mapPciBars(() => registerNotifiers());
    if (restoreDevices) devices.restore(data.restoreState!);
  });
  registerNotifiers();
  devices.virtio.functions.forEach((f, i) => {
    const events = f.pollEdgeTriggered ? (EPOLLIN | EPOLLET) >>> 0 : EPOLLIN;
    for (const fd of f.pollFds) {
      check(native().epollCtl(epfd, EPOLL_CTL_ADD, fd, events, TAG_BACKEND_BASE + i), 'epoll_ctl backend');
    }
  });
  const flushWarnings = (): void => {
    while (devices.warnings.length) send({ type: 'error', message: devices.warnings.shift()! });
  };
  if (data.firmwareTables) {
    writeFirmwareTables(memory, data.firmwareTables);
    debug('device thread: firmware tables written');
  }
  debug('device thread: devices built and restored');
  send({ type: 'ready' });

  // The last exits served, for `dump` (diagnosing a guest that hangs or spins).
  const RECENT = 64;
  const recent = new Float64Array(RECENT * 5);
  let served = 0;
  const names = ['pio-in', 'pio-out', 'mmio-read', 'mmio-write'];
  const describeExit = (k: number): string => {
    const slot = (k % RECENT) * 5;
    return `#${k} vcpu${recent[slot]} ${names[recent[slot + 1]!]} 0x${recent[slot + 2]!.toString(16)} size ${recent[slot + 3]}x${recent[slot + 4]}`;
  };
  const events = new Uint32Array(64 * 2);
  const trace = process.env['TYPEVISOR_TRACE'] === 'exits';
  /** Serves every mailbox holding a request (one doorbell stands for all vCPUs); returns how many. */
  const serveExits = (): number => {
    let count = 0;
    for (const m of mailboxes) {
      if (!m.pending()) continue;
      count++;
      try {
        devices.handleExit(m);
        served++;
        // Raw numbers only on the hot path; text is made when a dump or a trace asks for it.
        const slot = (served % RECENT) * 5;
        recent[slot] = m.index;
        recent[slot + 1] = m.kind;
        recent[slot + 2] = m.address;
        recent[slot + 3] = m.size;
        recent[slot + 4] = m.count;
        if (trace) writeSync(2, `typevisor-trace: ${describeExit(served)}\n`);
      } catch (e) {
        // A device bug must not wedge the vCPU: answer all-ones and report.
        m.data.fill(0xff, 0, m.size * m.count);
        send({ type: 'error', message: `device error at 0x${m.address.toString(16)}: ${(e as Error).message}` });
      }
      m.complete();
    }
    return count;
  };
  // After an exit, the slots are polled for a while (epoll_wait without blocking) before sleeping: see exit-mailbox.ts.
  const poller = new DevicePoller(data.mailbox, exitSpinFromEnv().deviceMicros);
  let running = true;
  while (running) {
    if (poller.expired()) {
      poller.stop();
      // A vCPU that saw the flag still set posted without ringing: its request is in a slot now.
      if (serveExits() > 0) poller.served();
    }
    const n = native().epollWait(epfd, events, poller.active ? 0 : -1);
    if (n < 0) {
      if (n === -4) continue; // EINTR
      send({ type: 'error', message: `epoll_wait failed: ${native().strerror(-n)}` });
      break;
    }
    if (n > 0) flushWarnings();
    for (let i = 0; i < n; i++) {
      const tag = events[i * 2 + 1]!;
      if (tag === TAG_EXIT) {
        native().eventfdRead(data.exitDoorbellFd); // the slots are served below
      } else if (tag >= TAG_BACKEND_BASE) {
        devices.virtio.functions[tag - TAG_BACKEND_BASE]?.transport.backendReady();
      } else if (tag >= TAG_NOTIFY_BASE) {
        const n = notifiers[tag - TAG_NOTIFY_BASE];
        if (n) {
          native().eventfdRead(n.fd);
          n.transport.notifyQueue(n.queue);
        }
      } else if (tag === TAG_CONTROL) {
        native().eventfdRead(data.controlDoorbellFd);
        if (trace) writeSync(2, 'typevisor-trace: control doorbell\n');
        for (let msg = receiveMessageOnPort(port); msg; msg = receiveMessageOnPort(port)) {
          const cmd = msg.message as DeviceCommand;
          if (trace) writeSync(2, `typevisor-trace: control ${cmd.type}\n`);
          if (cmd.type === 'console-input') devices.consoleInput(cmd.bytes);
          else if (cmd.type === 'power-button') devices.pressPowerButton();
          else if (cmd.type === 'ctrl-alt-del') devices.pressCtrlAltDel();
          else if (cmd.type === 'dump') {
            const lines = [];
            for (let k = Math.max(1, served - RECENT + 1); k <= served; k++) lines.push(describeExit(k));
            send({ type: 'dumped', id: cmd.id, text: `${served} exits served; last ones:\n${lines.join('\n')}` });
          } else if (cmd.type === 'metrics') {
            send({
              type: 'metrics',
              id: cmd.id,
              devices: devices.virtio.functions.map((f) => ({ name: f.name, metrics: { ...f.transport.metrics() } })),
            });
          } else if (cmd.type === 'balloon-set' || cmd.type === 'balloon-get') {
            const b = devices.virtio.balloon;
            if (!b) send({ type: 'balloon', id: cmd.id, info: null, error: 'this VM has no balloon device' });
            else {
              try {
                if (cmd.type === 'balloon-set') b.setTargetPages(Math.round((cmd.targetMiB * 1024 * 1024) / 4096));
                else b.requestStats();
                const stats = b.latestStats();
                send({
                  type: 'balloon',
                  id: cmd.id,
                  info: {
                    targetMiB: (b.target * 4096) / (1024 * 1024),
                    actualMiB: (b.actual * 4096) / (1024 * 1024),
                    statistics: stats ? (stats.values as Record<string, number>) : null,
                    statisticsAt: stats ? new Date(stats.receivedAt).toISOString() : null,
                  },
                });
              } catch (e) {
                send({ type: 'balloon', id: cmd.id, info: null, error: (e as Error).message });
              }
            }
          } else if (cmd.type === 'save') send({ type: 'saved', id: cmd.id, state: devices.save() });
          else if (cmd.type === 'stop') running = false;
        }
      }
    }
    if (serveExits() > 0) poller.served();
  }
  devices.close();
  native().close(epfd);
}

function reasonWithPanic(reason: string, consoleTail: string): string {
  const m = /Kernel panic - not syncing:[^\r\n]*/.exec(consoleTail);
  return m ? `guest kernel panic (${m[0]})` : reason;
}

/** What a pre-started device thread can do before its VM's data comes (thread-pool.ts hintIdleThread). */
export interface DeviceThreadHint {
  /** The VM's guest RAM, mapped: attach it now. */
  ram: SharedGuestRam;
}

/**
 * Guest RAM attached ahead, from a hint. Attaching 256 MiB makes V8 run a full mark-compact on the spot: an external
 * buffer that large is "external memory pressure" to it (~50 ms in the KVM lab). Ahead, it is paid while the main
 * thread still loads the kernel or maps a snapshot, not while the VM waits for its devices.
 */
let attachedAhead: { ranges: SharedGuestRam['ranges']; memory: RegionGuestMemory } | undefined;

function attachAhead(hint: DeviceThreadHint): void {
  attachedAhead = { ranges: hint.ram.ranges, memory: GuestRam.attach(hint.ram) };
  debug('device thread: guest RAM attached ahead');
}

/** The guest RAM attached ahead if it is this VM's (same mappings), else attached now. */
function attachRam(ram: SharedGuestRam): RegionGuestMemory {
  const ahead = attachedAhead;
  attachedAhead = undefined;
  const same =
    ahead !== undefined &&
    ahead.ranges.length === ram.ranges.length &&
    ahead.ranges.every((r, i) => r.gpa === ram.ranges[i]!.gpa && r.size === ram.ranges[i]!.size && r.address === ram.ranges[i]!.address);
  return same ? ahead.memory : GuestRam.attach(ram);
}

type IdleMessage = ThreadInit<DeviceWorkerData> | ThreadHint<DeviceThreadHint>;

/** Acts on a hint; gives back the VM's data when the message is the init. */
function initFrom(message: IdleMessage): ThreadInit<DeviceWorkerData> | undefined {
  if (message.type === 'init') return message;
  attachAhead(message.hint);
  return undefined;
}

// Only as a worker: the main thread imports this module for its types and constants.
// A thread pre-started by thread-pool.ts has no workerData yet: it waits for it.
if (!isMainThread) {
  debug('device thread: modules loaded');
  if (workerData) main(workerData as DeviceWorkerData);
  else {
    // Idle until then: load the native addon and compile the device code now rather than while a VM waits for
    // this thread (~90 and ~100 ms of a restore in the KVM lab; device-warm-up.ts). A VM that comes meanwhile (a
    // boot can ask for the thread before it has loaded its modules) ends the warm-up at its next stage; a hint is
    // acted on between stages.
    native();
    debug('device thread: native addon loaded');
    const nextInit = (): ThreadInit<DeviceWorkerData> | undefined => {
      for (let m = receiveMessageOnPort(parentPort!); m; m = receiveMessageOnPort(parentPort!)) {
        const init = initFrom(m.message as IdleMessage);
        if (init) return init;
      }
      return undefined;
    };
    const init = warmUpDeviceCode(nextInit);
    if (init) {
      debug('device thread: warm-up cut short by its VM');
      main(init.data);
    } else {
      debug('device thread: device code warmed up');
      const onMessage = (message: IdleMessage): void => {
        const init = initFrom(message);
        if (!init) return;
        parentPort!.off('message', onMessage);
        main(init.data);
      };
      parentPort!.on('message', onMessage);
    }
  }
}
