/** VM list: filter ("/" focuses it), sortable columns, state badges, uptime, IPs, lifecycle actions. */
import { useMemo, useRef, useState, useEffect } from 'react';
import { api, canOperate, session } from '../api';
import { useNow, useObservable, useResource } from '../hooks';
import { useVmActions } from '../components/vm-actions';
import { ErrorBox, StateBadge, Empty } from '../components/ui';
import { duration, mib } from '../format';
import { Link, navigate } from '../router';
import type { Task, Vm } from '../types';

type SortKey = 'name' | 'state' | 'vcpus' | 'memoryMiB' | 'uptime' | 'engine';

/** When each running VM last started: the finish time of its newest successful start task. */
export function useStartTimes(): Map<string, number> {
  const r = useResource(
    () => api<{ tasks: Task[] }>('GET', '/api/v1/tasks?status=succeeded&limit=1000'),
    [],
    (e) => e.type === 'task.finished',
  );
  return useMemo(() => {
    const m = new Map<string, number>();
    for (const t of r.data?.tasks ?? []) {
      if ((t.kind === 'vm.start' || t.kind === 'vm.reboot') && t.target && t.finishedAt) {
        const at = Date.parse(t.finishedAt);
        if (at > (m.get(t.target) ?? 0)) m.set(t.target, at);
      }
    }
    return m;
  }, [r.data]);
}

export function ips(vm: Vm): string {
  return vm.nics.map((n) => n.ipv4).filter((x): x is string => typeof x === 'string' && x.length > 0).join(', ');
}

export function VmListPage() {
  const s = useObservable(session);
  const vms = useResource(() => api<{ vms: Vm[] }>('GET', '/api/v1/vms'), [], (e) => e.type.startsWith('vm.'));
  const starts = useStartTimes();
  const now = useNow(1000);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'name', desc: false });
  const [actionError, setActionError] = useState<string | null>(null);
  const { dialog, buttons } = useVmActions(setActionError);
  const filterRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target as HTMLElement;
      if (e.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) {
        e.preventDefault();
        filterRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const uptime = (vm: Vm): number | null => (vm.state === 'running' || vm.state === 'paused') && starts.has(vm.id) ? now - starts.get(vm.id)! : null;

  const rows = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    const list = (vms.data?.vms ?? []).filter((vm) => {
      const hay = `${vm.name} ${vm.state} ${vm.engine} ${vm.image ?? ''} ${ips(vm)}`.toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    const val = (vm: Vm): string | number => sort.key === 'uptime' ? uptime(vm) ?? -1 : vm[sort.key];
    list.sort((a, b) => {
      const x = val(a);
      const y = val(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return sort.desc ? -c : c;
    });
    return list;
  }, [vms.data, filter, sort, sort.key === 'uptime' ? now : 0, starts]);

  const header = (key: SortKey, label: string) => (
    <th aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" className="th-sort" onClick={() => setSort((cur) => ({ key, desc: cur.key === key ? !cur.desc : false }))}>
        {label}{sort.key === key ? (sort.desc ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );

  return (
    <div className="page">
      <header className="page-head">
        <h1>Virtual machines</h1>
        <div className="head-actions">
          <input
            ref={filterRef}
            className="filter"
            type="search"
            placeholder="Filter by name, state, engine, IP…  ( / )"
            aria-label="Filter VMs"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            onKeyDown={(e) => { if (e.key === 'Escape') { setFilter(''); e.currentTarget.blur(); } }}
          />
          <Link to="/vms/new" className={`button primary${canOperate(s) ? '' : ' disabled'}`} aria-disabled={!canOperate(s)} title="c">Create VM</Link>
        </div>
      </header>
      <ErrorBox error={vms.error ?? actionError} />
      {vms.data && vms.data.vms.length === 0 ? (
        <Empty>No VMs yet. <Link to="/vms/new">Create one</Link>.</Empty>
      ) : (
        <table className="table" data-testid="vm-table">
          <thead>
            <tr>
              {header('name', 'Name')}
              {header('state', 'State')}
              {header('vcpus', 'vCPUs')}
              {header('memoryMiB', 'Memory')}
              {header('uptime', 'Uptime')}
              <th>IP addresses</th>
              {header('engine', 'Engine')}
              <th className="actions-col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((vm) => {
              const up = uptime(vm);
              return (
                <tr key={vm.id} data-vm={vm.name} onDoubleClick={() => navigate(`/vms/${vm.name}`)}>
                  <td><Link to={`/vms/${vm.name}`} className="strong">{vm.name}</Link>{vm.image ? <span className="muted"> · {vm.image}</span> : null}</td>
                  <td><StateBadge state={vm.state} /></td>
                  <td className="num">{vm.vcpus}</td>
                  <td className="num">{mib(vm.memoryMiB)}</td>
                  <td className="num">{up === null ? '—' : duration(up)}</td>
                  <td className="mono">{ips(vm) || '—'}</td>
                  <td className="muted">{vm.engine}</td>
                  <td>{buttons(vm, true)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {vms.data && <p className="muted small-text">{rows.length} of {vms.data.vms.length} VMs</p>}
      {dialog}
    </div>
  );
}
