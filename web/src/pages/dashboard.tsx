/** Dashboard: node CPU / memory / disk / network live charts, VMs by state, engines, recent tasks. */
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api';
import { events } from '../events';
import { useInterval, useNow, useObservable, useResource } from '../hooks';
import { Chart, rates } from '../components/chart';
import { ErrorBox, Section, StateBadge, Empty } from '../components/ui';
import { bytes, duration, ago } from '../format';
import { Link } from '../router';
import { VM_STATES, type NodeInfo, type NodeSample } from '../types';

const WINDOW_MS = 30 * 60_000;

export function useNodeSamples(): { samples: NodeSample[]; error: string | null } {
  const [samples, setSamples] = useState<NodeSample[]>([]);
  const [error, setError] = useState<string | null>(null);
  const lastTime = useRef(0);
  const fetchSince = async (since: number, replace: boolean): Promise<void> => {
    try {
      const r = await api<{ samples: NodeSample[] }>('GET', `/api/v1/node/metrics?since=${Math.floor(since)}`);
      setError(null);
      setSamples((old) => {
        const merged = replace ? r.samples : [...old, ...r.samples.filter((s) => s.time > (old[old.length - 1]?.time ?? 0))];
        const cut = Date.now() - WINDOW_MS;
        const kept = merged.filter((s) => s.time >= cut);
        lastTime.current = kept[kept.length - 1]?.time ?? lastTime.current;
        return kept;
      });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => {
    void fetchSince(Date.now() - WINDOW_MS, true);
  }, []);
  useInterval(() => void fetchSince(lastTime.current > 0 ? lastTime.current + 1 : Date.now() - WINDOW_MS, lastTime.current === 0), 5000);
  return { samples, error };
}

export function DashboardPage() {
  const node = useResource(() => api<NodeInfo>('GET', '/api/v1/node'), [], (e) => e.type.startsWith('vm.'));
  const { samples, error } = useNodeSamples();
  const tasks = useObservable(events.tasks);
  const names = useObservable(events.vmNames);
  const now = useNow(5000);

  const data = useMemo(() => {
    const t = samples.map((s) => s.time);
    const sec = t.map((x) => x / 1000);
    return {
      cpu: [sec, samples.map((s) => s.cpuPercent)] as [number[], number[]],
      mem: [sec, samples.map((s) => s.memoryUsedBytes)] as [number[], number[]],
      disk: [sec, rates(t, samples.map((s) => s.diskReadBytes)), rates(t, samples.map((s) => s.diskWriteBytes))] as [number[], (number | null)[], (number | null)[]],
      net: [sec, rates(t, samples.map((s) => s.netRxBytes)), rates(t, samples.map((s) => s.netTxBytes))] as [number[], (number | null)[], (number | null)[]],
    };
  }, [samples]);

  const n = node.data;
  const latest = samples[samples.length - 1] ?? n?.metrics ?? null;
  return (
    <div className="page">
      <header className="page-head">
        <h1>Dashboard</h1>
        {n && <span className="muted">{n.hostname} · {n.cpus} CPUs · up {duration(n.uptimeSeconds * 1000)} · typevisor {n.version}</span>}
      </header>
      <ErrorBox error={node.error ?? error} />
      <div className="stats">
        <Stat label="CPU" value={latest ? `${latest.cpuPercent.toFixed(0)}%` : '—'} sub={latest ? `load ${latest.load1.toFixed(2)}` : ''} />
        <Stat label="Memory" value={latest ? bytes(latest.memoryUsedBytes) : '—'} sub={latest ? `of ${bytes(latest.memoryTotalBytes)}` : ''} />
        <Stat label="Storage free" value={n?.storage ? bytes(n.storage.freeBytes) : '—'} sub={n?.storage ? `of ${bytes(n.storage.totalBytes)}` : ''} />
        <Stat label="Default engine" value={n?.defaultEngine.name ?? '—'} sub={n?.defaultEngine.reason ?? ''} wide />
      </div>
      <div className="grid-2">
        <Section title="Virtual machines" actions={<Link to="/vms" className="button small">All VMs</Link>}>
          <div className="state-counts" data-testid="vm-counts">
            {VM_STATES.map((st) => (
              <Link key={st} to="/vms" className="state-count">
                <span className="count">{n?.vms[st] ?? 0}</span>
                <StateBadge state={st} />
              </Link>
            ))}
          </div>
        </Section>
        <Section title="Recent tasks">
          {tasks.length === 0 ? <Empty>No tasks yet.</Empty> : (
            <table className="table compact">
              <tbody>
                {tasks.slice(0, 6).map((t) => (
                  <tr key={t.id}>
                    <td>{t.kind}</td>
                    <td className="muted ellipsis">{t.target ? names.get(t.target) ?? t.target : ''}</td>
                    <td><StateBadge state={t.status} /></td>
                    <td className="muted">{ago(t.createdAt, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      </div>
      <div className="charts">
        <Chart title="CPU" series={[{ label: 'CPU %', color: '#4f8cff' }]} data={data.cpu} format={(v) => `${v.toFixed(0)}%`} max={100} />
        <Chart title="Memory used" series={[{ label: 'used', color: '#a66cff' }]} data={data.mem} format={bytes} />
        <Chart title="Disk I/O" series={[{ label: 'read', color: '#2fbf71' }, { label: 'write', color: '#f0a030' }]} data={data.disk} format={(v) => `${bytes(v)}/s`} />
        <Chart title="Network" series={[{ label: 'rx', color: '#2fb8bf' }, { label: 'tx', color: '#e05d6f' }]} data={data.net} format={(v) => `${bytes(v)}/s`} />
      </div>
    </div>
  );
}

function Stat(props: { label: string; value: string; sub: string; wide?: boolean }) {
  return (
    <div className={props.wide ? 'stat stat-wide' : 'stat'}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value">{props.value}</div>
      <div className="stat-sub" title={props.sub}>{props.sub}</div>
    </div>
  );
}
