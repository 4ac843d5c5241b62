/**
 * `typevisor run`: boot a kernel with the typevisor VMM and serve its serial
 * console on this terminal (or pipe).
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { serveConsoleSocket } from './console-socket-server.js';
import type { MachineExit } from '../vmm/machine.js';
import { Vmm } from '../vmm/vmm.js';
import { prestartThreads } from '../vmm/thread-pool.js';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_CMDLINE, type DiskConfig, type NetConfig, type VmConfig } from '../vmm/config.js';
import { DEFAULT_KVM_PATH } from '../kvm/kvm.js';
import { detectHostFlavour } from '../platform/engines/host-flavour.js';

/** Exit codes of `typevisor run` (documented in README). */
export const EXIT_GUEST_STOPPED = 0; // poweroff, reset, or Ctrl-A x
export const EXIT_VMM_ERROR = 1;
export const EXIT_GUEST_PANIC = 3;

const CTRL_A = 0x01;
/** vCPU threads started ahead of a boot; a bigger VM starts the rest when it is built. */
const PRESTARTED_VCPU_THREADS_MAX = 8;

function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

function parseKeyValues(spec: string, what: string): { head: string; opts: Map<string, string> } {
  const [head, ...rest] = spec.split(',');
  const opts = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) opts.set(part, 'true');
    else opts.set(part.slice(0, eq), part.slice(eq + 1));
  }
  if (!head) throw new Error(`${what}: empty specification`);
  return { head, opts };
}

export function parseDisk(spec: string): DiskConfig {
  const { head, opts } = parseKeyValues(spec, '--disk');
  for (const key of opts.keys()) {
    if (!['readonly', 'format', 'serial'].includes(key)) throw new Error(`--disk: unknown option "${key}" in "${spec}"`);
  }
  const format = opts.get('format');
  if (format !== undefined && format !== 'raw' && format !== 'qcow2') {
    throw new Error(`--disk: format must be raw or qcow2, got "${format}"`);
  }
  return { path: head, readonly: opts.has('readonly'), format, serial: opts.get('serial') };
}

export function parseNet(spec: string): NetConfig {
  const opts = new Map(spec.split(',').map((p) => p.split('=', 2) as [string, string]));
  const tap = opts.get('tap');
  if (!tap) throw new Error(`--net: expected tap=NAME[,mac=..], got "${spec}"`);
  for (const key of opts.keys()) if (!['tap', 'mac'].includes(key)) throw new Error(`--net: unknown option "${key}"`);
  return { tap, mac: opts.get('mac') };
}

function parseVsock(spec: string): { cid: number; uds: string } {
  const opts = new Map(spec.split(',').map((p) => p.split('=', 2) as [string, string]));
  const cid = Number(opts.get('cid'));
  const uds = opts.get('uds');
  if (!uds || !Number.isInteger(cid)) throw new Error(`--vsock: expected cid=N,uds=PATH, got "${spec}"`);
  return { cid, uds };
}

function parseInteger(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new Error(`${name} must be an integer, got "${value}"`);
    return Number(value);
  };
}

interface RunOptions {
  kernel: string;
  initrd?: string;
  cmdline: string;
  cpus: number;
  memory: number;
  disk?: DiskConfig[];
  net?: NetConfig[];
  vsock?: { cid: number; uds: string };
  rng?: boolean;
  balloon?: boolean;
  console?: string;
  kvm: string;
  apiSock?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('boot a Linux kernel with the typevisor VMM; the serial console is this terminal (Ctrl-A x quits)')
    .requiredOption('--kernel <path>', 'Linux bzImage or ELF vmlinux (PVH note supported)')
    .option('--initrd <path>', 'initramfs image')
    .option('--cmdline <text>', 'kernel command line (replaces the default)', DEFAULT_CMDLINE)
    .option('--cpus <n>', 'number of vCPUs (1..32)', parseInteger('--cpus'), 1)
    .option('--memory <MiB>', 'guest memory in MiB', parseInteger('--memory'), 256)
    .option('--disk <spec>', 'PATH[,readonly][,format=raw|qcow2][,serial=ID] (repeatable)', collect(parseDisk))
    .option('--net <spec>', 'tap=NAME[,mac=52:54:00:xx:xx:xx] (repeatable)', collect(parseNet))
    .option('--vsock <spec>', 'cid=N,uds=PATH', parseVsock)
    .option('--rng', 'virtio-rng device')
    .option('--balloon', 'virtio-balloon device')
    .option('--console <kind>', 'extra console: virtio (hvc0)')
    .option('--kvm <path>', 'KVM device', process.env['TYPEVISOR_KVM'] ?? DEFAULT_KVM_PATH)
    .option('--api-sock <path>', 'serve the VMM control API on this Unix socket')
    .action(async (opts: RunOptions) => {
      const code = await runVm(opts);
      process.exit(code);
    });
}

async function runVm(opts: RunOptions): Promise<number> {
  // The threads load their modules while this thread loads the kernel and builds the VM.
  prestartThreads({ device: 1, vcpu: Math.min(opts.cpus, PRESTARTED_VCPU_THREADS_MAX) });
  // Alongside the boot, not before it: reading /proc/cpuinfo and /sys/module takes a few file-system round trips.
  const flavourWarning = detectHostFlavour().then((flavour) => {
    if (flavour.kind === 'pvm') {
      process.stderr.write(
        'typevisor: warning: this is a PVM host (kvm_pvm): guest kernel mode is emulated and a Linux kernel cannot boot to userspace here\n',
      );
    }
  });
  const config: VmConfig = {
    kernelPath: opts.kernel,
    initrdPath: opts.initrd,
    cmdline: opts.cmdline,
    vcpus: opts.cpus,
    memoryMiB: opts.memory,
    disks: opts.disk ?? [],
    nets: opts.net ?? [],
    vsock: opts.vsock,
    rng: opts.rng ?? false,
    balloon: opts.balloon ?? false,
    virtioConsole: opts.console === 'virtio',
    kvmPath: opts.kvm,
  };
  const vmm = new Vmm('vm', { kvmPath: opts.kvm });
  const code = await serveConsole(vmm, opts.apiSock, () => vmm.start(config));
  await flavourWarning;
  return code;
}

/**
 * Runs a VMM to its end with the console on this terminal: serves the control
 * API when asked, boots with `boot` (or waits for the API's InstanceStart),
 * and maps how the guest ended to the exit status.
 */
export async function serveConsole(
  vmm: Vmm,
  apiSock: string | undefined,
  boot: (() => Promise<void>) | undefined,
  extra: { consoleSock?: string | undefined; exitRecord?: boolean; onListening?: (api: FastifyInstance) => void } = {},
): Promise<number> {
  const exited = new Promise<MachineExit>((resolve) => vmm.once('exit', resolve));
  let consoleServer: Awaited<ReturnType<typeof serveConsoleSocket>> | undefined;
  if (extra.consoleSock) {
    // Loaded only here: node:net costs start-up time that a terminal console does not need.
    const { serveConsoleSocket } = await import('./console-socket-server.js');
    consoleServer = await serveConsoleSocket(extra.consoleSock, (bytes) => vmm.sendConsoleInput(bytes));
    vmm.on('console', (bytes: Uint8Array) => consoleServer!.write(bytes));
  }
  const code = await runToEnd(vmm, apiSock, boot, exited, !extra.consoleSock, extra.onListening);
  await consoleServer?.close();
  if (extra.exitRecord && apiSock) {
    // The platform reads how the VM ended from RUN/exit.json (src/platform/engines/typevisor/vmm-api.ts).
    const exit = await exited.catch(() => undefined);
    const record =
      code === EXIT_VMM_ERROR
        ? { reason: 'error', message: exit && 'reason' in exit ? exit.reason : 'VMM failure' }
        : { reason: 'poweroff' };
    writeFileSync(join(dirname(apiSock), 'exit.json'), JSON.stringify(record) + '\n');
  }
  return code;
}

async function runToEnd(
  vmm: Vmm,
  apiSock: string | undefined,
  boot: (() => Promise<void>) | undefined,
  exited: Promise<MachineExit>,
  terminal: boolean,
  onListening?: (api: FastifyInstance) => void,
): Promise<number> {
  vmm.on('warning', (message: string) => process.stderr.write(`typevisor: warning: ${message}\n`));
  // SIGTERM: say where the guest was (registers, last exits) before stopping, to diagnose hangs. Installed before the
  // API socket appears: whoever sees the socket may send SIGTERM at once (a VMM still waiting for configuration).
  process.once('SIGTERM', () => {
    void vmm
      .debugDump()
      .then((text) => process.stderr.write(`typevisor: terminated (SIGTERM); VM state:\n${text}\n`))
      .finally(() => void vmm.stop());
  });
  let api: FastifyInstance | undefined;
  try {
    if (apiSock) {
      const { serveApi } = await import('../api/server.js');
      api = await serveApi(vmm, apiSock);
      onListening?.(api);
    }
    if (boot) await boot();
  } catch (e) {
    process.stderr.write(`typevisor: error: ${(e as Error).message}\n`);
    await vmm.stop().catch(() => undefined);
    await api?.close();
    return EXIT_VMM_ERROR;
  }
  const restoreTerminal = terminal ? attachConsoleInput(vmm) : () => undefined;
  const exit = await exited;
  restoreTerminal();
  await api?.close();
  switch (exit.kind) {
    case 'poweroff':
      return EXIT_GUEST_STOPPED;
    case 'reset':
      process.stderr.write(`typevisor: guest reset (${exit.reason}); exiting\n`);
      return EXIT_GUEST_STOPPED;
    case 'stopped':
      return EXIT_GUEST_STOPPED;
    case 'panic':
      process.stderr.write(`typevisor: ${exit.reason}\n`);
      return EXIT_GUEST_PANIC;
    case 'error':
      process.stderr.write(`typevisor: error: ${exit.reason}\n`);
      return EXIT_VMM_ERROR;
  }
}

/** Forwards stdin to the guest's serial port; on a terminal, raw mode with Ctrl-A x to quit. */
function attachConsoleInput(machine: Vmm): () => void {
  const stdin = process.stdin;
  const isTty = stdin.isTTY === true;
  if (isTty) stdin.setRawMode(true);
  let escape = false;
  const onData = (chunk: Buffer): void => {
    if (!isTty) {
      machine.sendConsoleInput(new Uint8Array(chunk));
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (escape) {
        escape = false;
        if (byte === 0x78 /* x */) {
          void machine.stop();
          return;
        }
        out.push(byte === CTRL_A ? CTRL_A : byte);
      } else if (byte === CTRL_A) escape = true;
      else out.push(byte);
    }
    if (out.length) machine.sendConsoleInput(Uint8Array.from(out));
  };
  stdin.on('data', onData);
  stdin.on('error', () => undefined);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    if (isTty) stdin.setRawMode(false);
    stdin.pause();
  };
}
