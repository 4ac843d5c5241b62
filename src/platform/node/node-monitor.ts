/**
 * Host metrics: sampled every 5 s from /proc into an in-memory ring holding a
 * day (17,280 samples); node metrics are cheap to rebuild so they are not
 * persisted.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, hostname, loadavg, uptime } from 'node:os';
import { parseDiskstats, parseMeminfo, parseNetDev, parseProcStat, type CpuTimes } from './procfs.js';

export interface NodeSample {
  time: number;
  /** Whole-host CPU use, 0..100. */
  cpuPercent: number;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  load1: number;
}

const DAY_OF_SAMPLES = (24 * 3600) / 5;

export class NodeMonitor {
  private readonly samples: NodeSample[] = [];
  private lastCpu: CpuTimes | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly dataDir: string) {}

  start(intervalMs = 5000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  sample(): NodeSample {
    const cpu = parseProcStat(readFileSync('/proc/stat', 'utf8'));
    const prev = this.lastCpu;
    this.lastCpu = cpu;
    const cpuPercent = prev && cpu.total > prev.total ? (100 * (cpu.busy - prev.busy)) / (cpu.total - prev.total) : 0;
    const mem = parseMeminfo(readFileSync('/proc/meminfo', 'utf8'));
    const disk = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'));
    const net = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
    const s: NodeSample = {
      time: Date.now(),
      cpuPercent: Math.round(cpuPercent * 100) / 100,
      memoryTotalBytes: mem.totalBytes,
      memoryUsedBytes: mem.totalBytes - mem.availableBytes,
      diskReadBytes: disk.readBytes,
      diskWriteBytes: disk.writeBytes,
      netRxBytes: net.rxBytes,
      netTxBytes: net.txBytes,
      load1: loadavg()[0]!,
    };
    this.samples.push(s);
    if (this.samples.length > DAY_OF_SAMPLES) this.samples.shift();
    return s;
  }

  since(sinceMs: number): NodeSample[] {
    return this.samples.filter((s) => s.time >= sinceMs);
  }

  latest(): NodeSample {
    return this.samples[this.samples.length - 1] ?? this.sample();
  }

  info(): { hostname: string; cpus: number; uptimeSeconds: number; storage: { path: string; totalBytes: number; freeBytes: number } } {
    const fs = statfsSync(this.dataDir);
    return {
      hostname: hostname(),
      cpus: cpus().length,
      uptimeSeconds: Math.round(uptime()),
      storage: { path: this.dataDir, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize },
    };
  }
}
