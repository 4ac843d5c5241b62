/**
 * Pure UI rules with no DOM or React (unit-tested from test/web/logic.test.ts): which lifecycle actions a VM
 * state allows, which form input an API error field belongs to, counters -> rates for charts.
 * No imports, so the root (NodeNext) build can compile it for its test.
 */
export type VmOp = 'start' | 'stop' | 'reboot' | 'pause' | 'resume' | 'delete';

/** The actions the API accepts in each state (POST /vms/{id}/... answers 409 otherwise). */
export function allowedOps(state: string): VmOp[] {
  switch (state) {
    case 'stopped':
    case 'crashed': return ['start', 'delete'];
    case 'running': return ['stop', 'reboot', 'pause'];
    case 'paused': return ['resume', 'stop'];
    default: return [];
  }
}

/** Which create-wizard input an API error's `field` (e.g. "memoryMiB", "disks[0].sizeBytes") belongs to. */
export function inputForField(field: string | undefined): string | null {
  if (!field) return null;
  if (field.startsWith('disks')) return 'disk';
  if (field.startsWith('nics')) return 'networks';
  if (field.startsWith('cloudInit.sshAuthorizedKeys')) return 'sshKey';
  if (field.startsWith('cloudInit.hostname')) return 'hostname';
  if (field.startsWith('boot.')) return field;
  return field.split(/[.[]/)[0] || null;
}

/** Per-second rates from cumulative counters; null where unknown (first sample, counter reset, no time step). */
export function rates(times: number[], counters: number[]): (number | null)[] {
  const out: (number | null)[] = counters.length > 0 ? [null] : [];
  for (let i = 1; i < counters.length; i++) {
    const dt = (times[i]! - times[i - 1]!) / 1000;
    const dv = counters[i]! - counters[i - 1]!;
    out.push(dt > 0 && dv >= 0 ? dv / dt : null);
  }
  return out;
}
