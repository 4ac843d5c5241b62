/** Prometheus text exposition format 0.0.4 for the node and every VM. */
import type { PlatformContext } from '../context.js';

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderPrometheus(ctx: PlatformContext): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, rows: [Record<string, string>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const n = ctx.node.latest();
  metric('typevisor_node_cpu_percent', 'gauge', 'Host CPU use in percent', [[{}, n.cpuPercent]]);
  metric('typevisor_node_memory_total_bytes', 'gauge', 'Host memory', [[{}, n.memoryTotalBytes]]);
  metric('typevisor_node_memory_used_bytes', 'gauge', 'Host memory in use (total minus available)', [[{}, n.memoryUsedBytes]]);
  metric('typevisor_node_disk_read_bytes_total', 'counter', 'Bytes read from host disks', [[{}, n.diskReadBytes]]);
  metric('typevisor_node_disk_written_bytes_total', 'counter', 'Bytes written to host disks', [[{}, n.diskWriteBytes]]);
  metric('typevisor_node_network_receive_bytes_total', 'counter', 'Bytes received on host interfaces', [[{}, n.netRxBytes]]);
  metric('typevisor_node_network_transmit_bytes_total', 'counter', 'Bytes sent on host interfaces', [[{}, n.netTxBytes]]);

  const vms = ctx.vms.list();
  metric('typevisor_vm_up', 'gauge', '1 when the VM is running or paused', vms.map((v) => [{ vm: v.name, id: v.id, engine: v.engine, state: v.state }, v.state === 'running' || v.state === 'paused' ? 1 : 0]));
  const perVm = (name: string, type: 'gauge' | 'counter', help: string, pick: (s: NonNullable<ReturnType<typeof ctx.vms.metrics.latest>>) => number): void => {
    const rows: [Record<string, string>, number][] = [];
    for (const v of vms) {
      const s = v.pid !== null ? ctx.vms.metrics.latest(v.id) : undefined;
      if (s) rows.push([{ vm: v.name, id: v.id }, pick(s)]);
    }
    metric(name, type, help, rows);
  };
  perVm('typevisor_vm_cpu_percent', 'gauge', 'Guest CPU use in percent of one host CPU', (s) => s.cpuPercent);
  perVm('typevisor_vm_memory_bytes', 'gauge', 'Resident memory of the engine process', (s) => s.memoryBytes);
  perVm('typevisor_vm_disk_read_bytes_total', 'counter', 'Bytes the guest read from its disks', (s) => s.diskReadBytes);
  perVm('typevisor_vm_disk_written_bytes_total', 'counter', 'Bytes the guest wrote to its disks', (s) => s.diskWriteBytes);
  perVm('typevisor_vm_network_receive_bytes_total', 'counter', 'Bytes the guest received', (s) => s.netRxBytes);
  perVm('typevisor_vm_network_transmit_bytes_total', 'counter', 'Bytes the guest sent', (s) => s.netTxBytes);
  return out.join('\n') + '\n';
}
