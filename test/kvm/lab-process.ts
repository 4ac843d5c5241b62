/**
 * Helpers for the L1-side lab programs (lab-scenarios.ts and the scenarios it
 * runs): `typevisor` child processes whose console is read as it arrives,
 * progress lines, shell commands, and L1-local socket paths.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../helpers/repo.js';
import { GUEST_BOOT_HUNG, GUEST_SOFT_LOCKUP } from './guest-lab-fault.js';

export const typevisorBin = join(repoRoot(), 'bin/typevisor.js');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
/** Progress on stderr: it reaches the lab's output.log as it happens. */
export const step = (what: string) => process.stderr.write(`[lab-scenarios +${((Date.now() - started) / 1000).toFixed(1)}s] ${what}\n`);

/** Unix sockets cannot live on the 9p share (ENXIO): they go to L1's own /tmp. */
export const SOCKET_DIR = mkdtempSync('/tmp/tv-lab-');

/**
 * How long a Debian guest may take from spawn to its init's first marker. It takes 20-30 s in the lab; a guest that
 * is not there after this has hung, and waiting longer only eats into the lab run's time limit.
 */
export const GUEST_BOOT_MS = 150_000;

export class VmmProcess {
  out = '';
  err = '';
  readonly child: ChildProcess;
  exit: Promise<number | null>;
  constructor(args: string[]) {
    this.child = spawn(process.execPath, [typevisorBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.out += c.toString('latin1')));
    this.child.stderr!.on('data', (c: Buffer) => (this.err += c.toString('utf8')));
    this.child.stdin!.on('error', () => undefined);
    this.exit = new Promise((r) => this.child.on('close', (code) => r(code)));
  }
  /** Waits for `re` in the console output from offset `from` on (so earlier matches do not count). */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      // A guest CPU in a soft lockup does not come back (see guestLabFault): stop waiting.
      const lockup = GUEST_SOFT_LOCKUP.exec(this.out.slice(from));
      if (Date.now() > end || this.child.exitCode !== null || lockup) {
        throw new Error(`${lockup ? `the guest locked up (${lockup[0]})` : 'timed out'} waiting for ${re} (exit ${this.child.exitCode})\nstdout tail: ${this.out.slice(-1500)}\nstderr: ${this.err.slice(-1500)}`);
      }
      await sleep(200);
    }
  }
  /**
   * Waits up to GUEST_BOOT_MS for a booting guest's first marker. A guest still running without it has hung at boot
   * (GUEST_BOOT_HUNG: see guestLabFault); a VMM that exited or a soft lockup fail as in waitFor.
   */
  async waitForBoot(marker: RegExp): Promise<RegExpExecArray> {
    try {
      return await this.waitFor(marker, GUEST_BOOT_MS);
    } catch (e) {
      if (this.child.exitCode !== null || GUEST_SOFT_LOCKUP.test(this.out)) throw e;
      throw new Error(`${GUEST_BOOT_HUNG}: no ${marker} within ${GUEST_BOOT_MS / 1000} s\n${(e as Error).message}`);
    }
  }
  /** Types `line` on the guest console and waits for `answer` in what follows. */
  async type(line: string, answer: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const from = this.out.length;
    this.child.stdin!.write(`${line}\n`);
    return this.waitFor(answer, timeoutMs, from);
  }
  lastCount(): number {
    const all = [...this.out.matchAll(/TVG: count (\d+)\r?\n/g)];
    return all.length ? Number(all[all.length - 1]![1]) : -1;
  }
}

export function sh(cmd: string): string {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

/** A host->guest vsock stream through the VMM's Unix socket (Firecracker's "CONNECT <port>\n" handshake). */
export interface HostVsockConnection {
  readonly socket: Socket;
  /** Everything received so far, the "OK <port>\n" line included. */
  received: string;
  /** How the stream ended: 'eof', an error code, or null while open. */
  ended: string | null;
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;
}

/**
 * Connects to guest port `port`, sends `line` after the OK, and resolves once
 * the echo of `line` came back (or with what arrived when `timeoutMs` passed).
 * The connection stays open.
 */
export function vsockConnect(uds: string, port: number, line: string, timeoutMs: number): Promise<HostVsockConnection> {
  const socket = createConnection(uds);
  let closedResolve!: () => void;
  const conn: HostVsockConnection = { socket, received: '', ended: null, closed: new Promise<void>((r) => (closedResolve = r)) };
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(conn), timeoutMs);
    let sent = false;
    socket.on('connect', () => socket.write(`CONNECT ${port}\n`));
    socket.on('data', (d) => {
      conn.received += d.toString('latin1');
      if (!sent && /^OK \d+\n/.test(conn.received)) {
        sent = true;
        socket.write(`${line}\n`);
      }
      if (conn.received.includes(`${line}\n`)) {
        clearTimeout(timer);
        resolve(conn);
      }
    });
    socket.on('end', () => (conn.ended ??= 'eof'));
    socket.on('error', (e: NodeJS.ErrnoException) => (conn.ended ??= e.code ?? e.message));
    socket.on('close', () => {
      conn.ended ??= 'closed';
      clearTimeout(timer);
      resolve(conn);
      closedResolve();
    });
  });
}
