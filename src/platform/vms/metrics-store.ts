/**
 * VM metrics history: one row per VM per sample (every 5 s), kept for a day.
 */
import type { Db } from '../store/database.js';
import type { VmSample } from '../engines/engine.js';

export const METRICS_INTERVAL_MS = 5000;
export const METRICS_RETENTION_MS = 24 * 3600 * 1000;

interface MetricRow {
  time: number;
  cpu_percent: number;
  memory_bytes: number;
  disk_read_bytes: number;
  disk_write_bytes: number;
  net_rx_bytes: number;
  net_tx_bytes: number;
}

const fromRow = (r: MetricRow): VmSample => ({
  time: r.time,
  cpuPercent: r.cpu_percent,
  memoryBytes: r.memory_bytes,
  diskReadBytes: r.disk_read_bytes,
  diskWriteBytes: r.disk_write_bytes,
  netRxBytes: r.net_rx_bytes,
  netTxBytes: r.net_tx_bytes,
});

export class MetricsStore {
  private readonly latestByVm = new Map<string, VmSample>();

  constructor(private readonly db: Db) {}

  record(vmId: string, s: VmSample): void {
    this.latestByVm.set(vmId, s);
    this.db
      .prepare('INSERT OR REPLACE INTO vm_metrics (vm_id, time, cpu_percent, memory_bytes, disk_read_bytes, disk_write_bytes, net_rx_bytes, net_tx_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(vmId, Math.round(s.time), s.cpuPercent, s.memoryBytes, s.diskReadBytes, s.diskWriteBytes, s.netRxBytes, s.netTxBytes);
  }

  since(vmId: string, sinceMs: number): VmSample[] {
    return (
      this.db.prepare('SELECT * FROM vm_metrics WHERE vm_id = ? AND time >= ? ORDER BY time').all(vmId, sinceMs) as MetricRow[]
    ).map(fromRow);
  }

  latest(vmId: string): VmSample | undefined {
    return this.latestByVm.get(vmId);
  }

  forget(vmId: string): void {
    this.latestByVm.delete(vmId);
  }

  prune(now = Date.now()): number {
    return this.db.prepare('DELETE FROM vm_metrics WHERE time < ?').run(now - METRICS_RETENTION_MS).changes;
  }
}
