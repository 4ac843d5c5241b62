/** Storage: pools with capacity, their volumes (format, sizes, base/clones, users), create/resize/delete volumes. */
import { useState } from 'react';
import { api, ApiFailure, canOperate, errorText, session } from '../api';
import { useObservable, useResource } from '../hooks';
import { useConfirm } from '../components/confirm';
import { Empty, ErrorBox, Field, Meter, Section } from '../components/ui';
import { bytes } from '../format';
import type { Pool, Volume } from '../types';

export function StoragePage() {
  const pools = useResource(() => api<{ pools: Pool[] }>('GET', '/api/v1/pools'), [], (e) => e.type === 'task.finished' || e.type === 'vm.deleted' || e.type === 'vm.created');
  return (
    <div className="page">
      <header className="page-head"><h1>Storage</h1></header>
      <ErrorBox error={pools.error} />
      {(pools.data?.pools ?? []).map((p) => <PoolSection key={p.name} pool={p} />)}
      {pools.data?.pools.length === 0 && <Empty>No storage pools.</Empty>}
    </div>
  );
}

function PoolSection({ pool }: { pool: Pool }) {
  const s = useObservable(session);
  const base = `/api/v1/pools/${encodeURIComponent(pool.name)}/volumes`;
  const vols = useResource(() => api<{ volumes: Volume[] }>('GET', base), [pool.name], (e) => e.type === 'task.finished' || e.type.startsWith('vm.'));
  const [form, setForm] = useState({ name: '', sizeGiB: '1', format: 'qcow2' });
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [dialog, ask] = useConfirm();
  const used = pool.capacityBytes - pool.freeBytes;

  const act = async (f: () => Promise<unknown>): Promise<boolean> => {
    setError(null);
    try {
      await f();
      vols.reload();
      return true;
    } catch (e) {
      setError({ message: errorText(e), field: e instanceof ApiFailure ? e.field : undefined });
      return false;
    }
  };
  const create = (): Promise<boolean> => act(() => api('POST', base, { name: form.name.trim(), format: form.format, sizeBytes: Math.round(Number(form.sizeGiB) * 1024 ** 3) }));
  const resize = async (v: Volume): Promise<void> => {
    const answer = prompt(`New size of ${v.name} in GiB (now ${(v.virtualSizeBytes / 1024 ** 3).toFixed(2)}; shrinking is refused)`);
    if (answer) await act(() => api('POST', `${base}/${encodeURIComponent(v.name)}/resize`, { sizeBytes: Math.round(Number(answer) * 1024 ** 3) }));
  };

  return (
    <Section title={`Pool ${pool.name}`} actions={<span className="muted">{pool.kind} · {pool.path}</span>}>
      <div className="pool-capacity">
        <Meter used={used} total={pool.capacityBytes} />
        <span className="muted">{bytes(used)} used of {bytes(pool.capacityBytes)} · {bytes(pool.freeBytes)} free</span>
      </div>
      {error && !error.field && <ErrorBox error={error.message} />}
      {vols.data?.volumes.length === 0 ? <Empty>No volumes in this pool.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Volume</th><th>Format</th><th>Size</th><th>On disk</th><th>Base / clones</th><th>Used by</th><th /></tr></thead>
          <tbody>
            {(vols.data?.volumes ?? []).map((v) => (
              <tr key={v.name}>
                <td className="strong">{v.name}</td>
                <td>{v.format}</td>
                <td className="num">{bytes(v.virtualSizeBytes)}</td>
                <td className="num">{bytes(v.actualSizeBytes)}</td>
                <td className="muted">{v.base ? `clone of ${v.base.name}` : ''}{v.clones && v.clones.length > 0 ? `${v.clones.length} linked clone${v.clones.length > 1 ? 's' : ''}` : ''}</td>
                <td className="muted">{(v.attachedTo ?? []).map((a) => a.role).join(', ')}</td>
                <td className="btn-row">
                  <button type="button" className="small" disabled={!canOperate(s)} onClick={() => void resize(v)}>Resize</button>
                  <button type="button" className="danger small" disabled={!canOperate(s)} onClick={() => void ask({ title: `Delete volume ${v.name}?`, body: 'Its data is deleted. This cannot be undone.', confirm: 'Delete', danger: true }).then((ok) => ok && act(() => api('DELETE', `${base}/${encodeURIComponent(v.name)}`)))}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="form-row" onSubmit={(e) => { e.preventDefault(); void create().then((ok) => ok && setForm({ ...form, name: '' })); }}>
        <Field label="New volume" name="name" error={error?.field === 'name' ? error.message : null}>
          <input name="name" placeholder="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} disabled={!canOperate(s)} required />
        </Field>
        <Field label="Size (GiB)" name="sizeBytes" error={error?.field === 'sizeBytes' ? error.message : null}>
          <input type="number" step="any" min={0} value={form.sizeGiB} onChange={(e) => setForm({ ...form, sizeGiB: e.target.value })} disabled={!canOperate(s)} />
        </Field>
        <Field label="Format" name="format">
          <select value={form.format} onChange={(e) => setForm({ ...form, format: e.target.value })} disabled={!canOperate(s)}>
            <option value="qcow2">qcow2</option><option value="raw">raw</option>
          </select>
        </Field>
        <button type="submit" className="primary" disabled={!canOperate(s)}>Create volume</button>
      </form>
      {dialog}
    </Section>
  );
}
