/**
 * procfs / sysfs readers for supervising engine processes that are not (or no
 * longer) children of the daemon: identity (pid + start time, so a reused pid is
 * never mistaken for our VM), liveness, CPU time, resident memory, tap counters.
 * Field numbers follow proc(5) "/proc/[pid]/stat".
 */
import { readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime/stime/starttime in /proc/[pid]/stat; 100 on every x86 Linux. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  pid: number;
  comm: string;
  /** One-letter state: R, S, D, Z (zombie), T, t, X, I. */
  state: string;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
  /** Start time after boot in clock ticks: with the pid, identifies one process for its lifetime. */
  startTicks: number;
}

/** Parse /proc/[pid]/stat; `comm` may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed /proc/[pid]/stat: ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number.parseInt(text.slice(0, open).trim(), 10);
  const comm = text.slice(open + 1, close);
  // Fields after comm start with field 3 (state); index 0 here is field 3.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number): string => {
    const value = rest[n - 3];
    if (value === undefined) throw new Error(`/proc/${pid}/stat has no field ${n}`);
    return value;
  };
  return {
    pid,
    comm,
    state: field(3),
    cpuTicks: Number(field(14)) + Number(field(15)),
    startTicks: Number(field(22)),
  };
}

export async function readProcStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

/** A process, identified across pid reuse. */
export interface ProcessIdentity {
  pid: number;
  startTicks: number;
}

export async function identify(pid: number): Promise<ProcessIdentity | null> {
  const stat = await readProcStat(pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return null;
  return { pid, startTicks: stat.startTicks };
}

/** True while that very process exists and has not exited (a zombie has exited). */
export async function isAlive(identity: ProcessIdentity): Promise<boolean> {
  const stat = await readProcStat(identity.pid);
  return stat !== null && stat.startTicks === identity.startTicks && stat.state !== 'Z' && stat.state !== 'X';
}

/** argv of a process from /proc/[pid]/cmdline, or null when it is gone. */
export async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args.at(-1) === '') args.pop();
    return args;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

/** VmRSS from /proc/[pid]/status in bytes (0 when the line is absent, e.g. a zombie). */
export function parseRssBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

export async function readRssBytes(pid: number): Promise<number> {
  try {
    return parseRssBytes(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch (error) {
    if (isMissing(error)) return 0;
    throw error;
  }
}

/**
 * Byte counters of a host tap device, from the guest's point of view: what the
 * host sends into the tap (tx) is what the guest receives, and the other way round.
 * Zero when the tap is gone.
 */
export async function readTapGuestBytes(tap: string, sysClassNet = '/sys/class/net'): Promise<{ rx: number; tx: number }> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tap)) throw new Error(`invalid tap device name ${JSON.stringify(tap)}`);
  const counter = async (name: string): Promise<number> => {
    try {
      return Number((await readFile(`${sysClassNet}/${tap}/statistics/${name}`, 'utf8')).trim()) || 0;
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
  };
  const [hostTx, hostRx] = await Promise.all([counter('tx_bytes'), counter('rx_bytes')]);
  return { rx: hostTx, tx: hostRx };
}

/** CPU percent of one host CPU between two readings of cumulative ticks. */
export function cpuPercent(ticksBefore: number, ticksNow: number, msElapsed: number): number {
  if (msElapsed <= 0) return 0;
  const cpuMs = ((ticksNow - ticksBefore) * 1000) / CLOCK_TICKS_PER_SECOND;
  return Math.max(0, (cpuMs / msElapsed) * 100);
}

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR';
}
