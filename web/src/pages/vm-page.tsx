/** One VM: summary and actions, serial console, live charts, hardware (editable while stopped), snapshots, tasks. */
import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { api, canOperate, session } from "../api";
import { useInterval, useNow, useObservable, useResource, type Resource } from '../hooks';
import { useVmActions } from '../components/vm-actions';
import { Chart, rates } from '../components/chart';
import { ErrorBox, Section, StateBadge, Empty } from '../components/ui';
import { bytes, duration, mib, ago } from '../format';
import { navigate } from '../router';
import { ips, useStartTimes } from './vm-list';
import { HardwareEditor } from './vm-hardware';
import { SnapshotsSection } from './vm-snapshots';
import type { Task, Vm, VmSample } from '../types';

// xterm.js is the largest dependency: loaded only when a console is opened.
const SerialConsole = lazy(() => import('../components/console').then((m) => ({ default: m.SerialConsole })));

export function VmPage({ vmRef }: { vmRef: string }) {
  const s = useObservable(session);
  const idRef = useRef<string | null>(null);
  const vm: Resource<Vm> = useResource(
    () => api<Vm>('GET', `/api/v1/vms/${encodeURIComponent(vmRef)}`),
    [vmRef],
    (e) => (e.type === 'vm.state' || e.type === 'vm.deleted') ? (e.id === idRef.current || e.name === vmRef) : (e.type === 'vm.updated' && (e.vm.id === idRef.current || e.vm.name === vmRef)),
  );
  idRef.current = vm.data?.id ?? null;
  const [actionError, setActionError] = useState<string | null>(null);
  const { dialog, buttons } = useVmActions(setActionError, () => navigate('/vms'));
  const starts = useStartTimes();
  const now = useNow(1000);
  const [tab, setTab] = useState<'console' | 'charts' | 'hardware' | 'snapshots' | 'tasks'>('console');

  if (vm.error && !vm.data) return <div className="page"><h1>{vmRef}</h1><ErrorBox error={vm.error} /></div>;
  const v = vm.data;
  if (!v) return <div className="page"><h1>{vmRef}</h1><p className="muted">Loading…</p></div>;
  const started = starts.get(v.id);
  const up = (v.state === 'running' || v.state === 'paused') && started ? duration(now - started) : '—';
  const tabs = ['console', 'charts', 'hardware', 'snapshots', 'tasks'] as const;

  return (
    <div className="page">
      <header className="page-head">
        <h1>{v.name} <StateBadge state={v.state} /></h1>
        {buttons(v)}
      </header>
      <ErrorBox error={actionError ?? vm.error} />
      <div className="summary card">
        <dl>
          <div><dt>State</dt><dd>{v.state} <span className="muted">({v.stateReason})</span></dd></div>
          <div><dt>Uptime</dt><dd>{up}</dd></div>
          <div><dt>vCPUs / memory</dt><dd>{v.vcpus} / {mib(v.memoryMiB)}</dd></div>
          <div><dt>IP addresses</dt><dd className="mono">{ips(v) || '—'}</dd></div>
          <div><dt>Engine</dt><dd title={v.engineReason}>{v.engine} <span className="muted">· {v.engineReason}</span></dd></div>
          <div><dt>Image</dt><dd>{v.image ?? (v.boot ? <span className="mono">{v.boot.kernel}</span> : '—')}</dd></div>
          <div><dt>Process</dt><dd>{v.pid ?? '—'}</dd></div>
          <div><dt>Created</dt><dd>{ago(v.createdAt, now)}</dd></div>
        </dl>
      </div>
      <div className="tabs" role="tablist">
        {tabs.map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} onClick={() => setTab(t)}>
            {t[0]!.toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === 'console' && <Suspense fallback={<p className="muted">Loading the console…</p>}><SerialConsole vmId={v.id} readOnly={!canOperate(s)} /></Suspense>}
      {tab === 'charts' && <VmCharts vmId={v.id} memoryMiB={v.memoryMiB} />}
      {tab === 'hardware' && <HardwareEditor vm={v} onSaved={vm.reload} />}
      {tab === 'snapshots' && <SnapshotsSection vm={v} />}
      {tab === 'tasks' && <VmTasks vmId={v.id} />}
      {dialog}
    </div>
  );
}

function VmCharts({ vmId, memoryMiB }: { vmId: string; memoryMiB: number }) {
  const r = useResource(() => api<{ samples: VmSample[] }>('GET', `/api/v1/vms/${vmId}/metrics?since=${Date.now() - 3600_000}`), [vmId]);
  useInterval(r.reload, 5000);
  const d = useMemo(() => {
    const samples = r.data?.samples ?? [];
    const t = samples.map((x) => x.time);
    const sec = t.map((x) => x / 1000);
    return {
      cpu: [sec, samples.map((x) => x.cpuPercent)] as [number[], number[]],
      mem: [sec, samples.map((x) => x.memoryBytes)] as [number[], number[]],
      disk: [sec, rates(t, samples.map((x) => x.diskReadBytes)), rates(t, samples.map((x) => x.diskWriteBytes))] as [number[], (number | null)[], (number | null)[]],
      net: [sec, rates(t, samples.map((x) => x.netRxBytes)), rates(t, samples.map((x) => x.netTxBytes))] as [number[], (number | null)[], (number | null)[]],
    };
  }, [r.data]);
  return (
    <>
      <ErrorBox error={r.error} />
      {r.data && r.data.samples.length === 0 && <Empty>No samples yet: metrics are sampled every 5 s while the VM runs.</Empty>}
      <div className="charts">
        <Chart title="CPU" series={[{ label: 'CPU %', color: '#4f8cff' }]} data={d.cpu} format={(x) => `${x.toFixed(0)}%`} />
        <Chart title={`Memory (of ${mib(memoryMiB)})`} series={[{ label: 'resident', color: '#a66cff' }]} data={d.mem} format={bytes} />
        <Chart title="Disk I/O" series={[{ label: 'read', color: '#2fbf71' }, { label: 'write', color: '#f0a030' }]} data={d.disk} format={(x) => `${bytes(x)}/s`} />
        <Chart title="Network" series={[{ label: 'rx', color: '#2fb8bf' }, { label: 'tx', color: '#e05d6f' }]} data={d.net} format={(x) => `${bytes(x)}/s`} />
      </div>
    </>
  );
}

function VmTasks({ vmId }: { vmId: string }) {
  const r = useResource(() => api<{ tasks: Task[] }>('GET', `/api/v1/tasks?target=${encodeURIComponent(vmId)}&limit=50`), [vmId], (e) => e.type.startsWith('task.'));
  const now = useNow(5000);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Section title="Tasks">
      <ErrorBox error={r.error} />
      {r.data?.tasks.length === 0 ? <Empty>No tasks for this VM yet.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Task</th><th>Status</th><th>Started</th><th>Took</th><th>Error</th></tr></thead>
          <tbody>
            {(r.data?.tasks ?? []).map((t) => (
              <tr key={t.id} onClick={() => setOpen(open === t.id ? null : t.id)} className="clickable">
                <td>{t.kind}{open === t.id && t.log && t.log.length > 0 && <pre className="log">{t.log.join('\n')}</pre>}</td>
                <td><StateBadge state={t.status} /></td>
                <td className="muted">{ago(t.startedAt ?? t.createdAt, now)}</td>
                <td className="num">{t.finishedAt && t.startedAt ? duration(Date.parse(t.finishedAt) - Date.parse(t.startedAt)) : '…'}</td>
                <td className="error-text">{t.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

