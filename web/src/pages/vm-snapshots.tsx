/** Disk snapshots of a VM (qcow2 internal snapshots of all its volumes): take, restore, delete while stopped. */
import { useState } from 'react';
import { api, canOperate, errorText, session } from '../api';
import { useObservable, useResource } from '../hooks';
import { useConfirm } from '../components/confirm';
import { Empty, ErrorBox, Section } from '../components/ui';
import type { DiskSnapshot, Vm } from '../types';

export function SnapshotsSection({ vm }: { vm: Vm }) {
  const s = useObservable(session);
  const base = `/api/v1/vms/${encodeURIComponent(vm.id)}/disk-snapshots`;
  const list = useResource(() => api<{ snapshots: DiskSnapshot[] }>('GET', base), [vm.id]);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [dialog, ask] = useConfirm();
  const editable = canOperate(s) && vm.state === 'stopped';

  const act = async (f: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await f();
      list.reload();
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <Section title="Disk snapshots" actions={
      <form className="inline" onSubmit={(e) => { e.preventDefault(); void act(() => api('POST', base, { name: name.trim() })).then(() => setName('')); }}>
        <input aria-label="Snapshot name" placeholder="snapshot name" value={name} onChange={(e) => setName(e.target.value)} disabled={!editable} required />
        <button type="submit" className="primary small" disabled={!editable}>Take snapshot</button>
      </form>
    }>
      {vm.state !== 'stopped' && <p className="muted">Snapshots are taken and restored while the VM is stopped.</p>}
      <ErrorBox error={error ?? list.error} />
      {list.data?.snapshots.length === 0 ? <Empty>No snapshots.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Name</th><th>Taken</th><th>Volumes</th><th /></tr></thead>
          <tbody>
            {(list.data?.snapshots ?? []).map((sn) => (
              <tr key={sn.name}>
                <td className="strong">{sn.name}</td>
                <td>{new Date(sn.dateSec * 1000).toLocaleString()}</td>
                <td className="mono">{sn.volumes.join(', ')}</td>
                <td className="btn-row">
                  <button type="button" className="small" disabled={!editable} onClick={() => void ask({ title: `Restore ${sn.name}?`, body: 'The disks go back to this snapshot; later changes are lost.', confirm: 'Restore', danger: true }).then((ok) => { if (ok) void act(() => api('POST', `${base}/${encodeURIComponent(sn.name)}/restore`)); })}>Restore</button>
                  <button type="button" className="danger small" disabled={!canOperate(s)} onClick={() => void ask({ title: `Delete snapshot ${sn.name}?`, body: 'The snapshot is removed from every disk.', confirm: 'Delete', danger: true }).then((ok) => { if (ok) void act(() => api('DELETE', `${base}/${encodeURIComponent(sn.name)}`)); })}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {dialog}
    </Section>
  );
}
