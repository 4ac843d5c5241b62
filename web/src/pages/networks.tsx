/** Networks: bridges with DHCP (dnsmasq), NAT or isolated; create and delete. */
import { useState } from 'react';
import { api, ApiFailure, errorText, isAdmin, session } from '../api';
import { useObservable, useResource } from '../hooks';
import { useConfirm } from '../components/confirm';
import { Empty, ErrorBox, Field, Section, StateBadge } from '../components/ui';
import type { Network } from '../types';

export function NetworksPage() {
  const s = useObservable(session);
  const list = useResource(() => api<{ networks: Network[] }>('GET', '/api/v1/networks'), [], (e) => e.type.startsWith('vm.'));
  const [form, setForm] = useState({ name: '', subnet: '10.77.0.0/24', nat: false });
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [dialog, ask] = useConfirm();
  const act = async (f: () => Promise<unknown>): Promise<boolean> => {
    setError(null);
    try {
      await f();
      list.reload();
      return true;
    } catch (e) {
      setError({ message: errorText(e), field: e instanceof ApiFailure ? e.field : undefined });
      return false;
    }
  };
  const fieldErr = (f: string): string | null => (error?.field === f ? error.message : null);

  return (
    <div className="page">
      <header className="page-head"><h1>Networks</h1></header>
      {error && !error.field && <ErrorBox error={error.message} />}
      <ErrorBox error={list.error} />
      <Section title="Networks">
        {list.data?.networks.length === 0 ? <Empty>No networks yet. VMs without NICs have no network.</Empty> : (
          <table className="table">
            <thead><tr><th>Name</th><th>Subnet</th><th>Gateway</th><th>DHCP range</th><th>Mode</th><th>Bridge</th><th>DHCP server</th><th>NICs</th><th /></tr></thead>
            <tbody>
              {(list.data?.networks ?? []).map((n) => (
                <tr key={n.name}>
                  <td className="strong">{n.name}</td>
                  <td className="mono">{n.subnet}</td>
                  <td className="mono">{n.gateway}</td>
                  <td className="mono">{n.dhcp.start} – {n.dhcp.end}</td>
                  <td>{n.nat ? 'NAT to uplink' : 'isolated'}</td>
                  <td className="mono">{n.bridge}</td>
                  <td><StateBadge state={n.dnsmasq.running ? 'running' : 'stopped'} /></td>
                  <td className="num">{n.nics}</td>
                  <td><button type="button" className="danger small" disabled={!isAdmin(s)} onClick={() => void ask({ title: `Delete network ${n.name}?`, body: 'Its bridge and DHCP server are removed.', confirm: 'Delete', danger: true }).then((ok) => ok && act(() => api('DELETE', `/api/v1/networks/${encodeURIComponent(n.name)}`)))}>Delete</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="New network" actions={isAdmin(s) ? null : <span className="muted">creating and deleting networks needs the admin role</span>}>
        <form className="form-row" onSubmit={(e) => { e.preventDefault(); void act(() => api('POST', '/api/v1/networks', { name: form.name.trim(), subnet: form.subnet.trim(), nat: form.nat })).then((ok) => ok && setForm({ ...form, name: '' })); }}>
          <Field label="Name" name="name" error={fieldErr('name')}><input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} disabled={!isAdmin(s)} required /></Field>
          <Field label="Subnet (IPv4 CIDR)" name="subnet" error={fieldErr('subnet')}><input className="mono" value={form.subnet} onChange={(e) => setForm({ ...form, subnet: e.target.value })} disabled={!isAdmin(s)} required /></Field>
          <label className="check"><input type="checkbox" checked={form.nat} onChange={(e) => setForm({ ...form, nat: e.target.checked })} disabled={!isAdmin(s)} /> NAT to the host's uplink</label>
          <button type="submit" className="primary" disabled={!isAdmin(s)}>Create network</button>
        </form>
      </Section>
      {dialog}
    </div>
  );
}
