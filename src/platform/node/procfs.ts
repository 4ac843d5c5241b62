/**
 * Parsers for the host counters in /proc (proc(5)): CPU time from /proc/stat,
 * memory from /proc/meminfo, block I/O from /proc/diskstats and interface
 * bytes from /proc/net/dev. Pure functions over the file text.
 */

export interface CpuTimes {
  /** Jiffies spent busy (everything but idle and iowait). */
  busy: number;
  total: number;
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal ... */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no aggregate cpu line');
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

export function parseMeminfo(text: string): MemInfo {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: kb('MemTotal'), availableBytes: kb('MemAvailable') };
}

export interface IoBytes {
  readBytes: number;
  writeBytes: number;
}

/**
 * Sum sectors read/written (fields 6 and 10, 512-byte units per the kernel's
 * Documentation/admin-guide/iostats.rst) over whole disks, skipping partitions,
 * loop, ram and device-mapper devices so nothing is counted twice.
 */
export function parseDiskstats(text: string): IoBytes {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const name = f[2]!;
    if (/^(loop|ram|dm-|sr|fd)/.test(name)) continue;
    if (/^(sd|vd|xvd|hd)[a-z]+\d+$/.test(name) || /^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name)) continue;
    read += Number(f[5]) * 512;
    write += Number(f[9]) * 512;
  }
  return { readBytes: read, writeBytes: write };
}

export interface NetBytes {
  rxBytes: number;
  txBytes: number;
}

/** /proc/net/dev: per interface, receive bytes is field 1 and transmit bytes field 9. Loopback excluded. */
export function parseNetDev(text: string): NetBytes {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rxBytes: rx, txBytes: tx };
}
