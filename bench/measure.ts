/**
 * Shared measuring for benchmarks that run inside the KVM lab's L1: spawn a
 * VMM, time spawn -> marker on its console, and sample its memory overhead
 * (resident memory minus the guest-RAM mapping's resident pages, from
 * /proc/PID/smaps) until it exits.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface RunMeasurement {
  markerMs: number | null;
  exitMs: number;
  status: number | null;
  /** Peak of (RSS - guest RAM RSS), bytes. */
  peakOverheadBytes: number;
  /** Peak RSS of the whole process, bytes. */
  peakRssBytes: number;
  tail: string;
}

/** RSS of the process and of mappings at least `guestBytes` big (the guest RAM), in bytes. */
export function sampleMemory(pid: number, guestBytes: number): { rss: number; guest: number } | null {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return null;
  }
  let rss = 0;
  let guest = 0;
  let size = 0;
  for (const line of smaps.split('\n')) {
    if (line.startsWith('Size:')) size = Number(line.split(/\s+/)[1]) * 1024;
    else if (line.startsWith('Rss:')) {
      const v = Number(line.split(/\s+/)[1]) * 1024;
      rss += v;
      if (size >= guestBytes) guest += v;
    }
  }
  return { rss, guest };
}

export function measureRun(cmd: string, args: string[], marker: string, guestBytes: number, timeoutMs: number): Promise<RunMeasurement> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let markerMs: number | null = null;
  let peakOverhead = 0;
  let peakRss = 0;
  const sample = () => {
    const m = child.pid ? sampleMemory(child.pid, guestBytes) : null;
    if (m) {
      peakOverhead = Math.max(peakOverhead, m.rss - m.guest);
      peakRss = Math.max(peakRss, m.rss);
    }
  };
  const timer = setInterval(sample, 50);
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('latin1');
    if (markerMs === null && out.includes(marker)) {
      markerMs = performance.now() - t0;
      sample();
    }
  });
  child.stderr.on('data', (c: Buffer) => (out += c.toString('latin1')));
  const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (status) => {
      clearInterval(timer);
      clearTimeout(kill);
      resolve({ markerMs, exitMs: performance.now() - t0, status, peakOverheadBytes: peakOverhead, peakRssBytes: peakRss, tail: out.slice(-600) });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
