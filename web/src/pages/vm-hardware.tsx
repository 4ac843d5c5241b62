/** Hardware of a VM: vCPUs, memory, disks and NICs; editable (PATCH) only while the VM is stopped. */
import { useEffect, useState } from 'react';
import { api, ApiFailure, canOperate, errorText, session } from '../api';
import { useObservable, useResource } from '../hooks';
import { ErrorBox, Field, Section } from '../components/ui';
import { bytes } from '../format';
import type { Disk, Network, Nic, Vm } from '../types';

function describeDisk(d: Disk): string {
  if (d.volume) return `${d.pool ?? 'local'}/${d.volume}${d.format ? ` (${d.format})` : ''}`;
  if (d.path) return d.path;
  return `new ${bytes(d.sizeBytes ?? 0)} ${d.format ?? ''}`;
}

/** The definition fields of a NIC or disk (the view adds live facts like tap/ipv4 that PATCH refuses). */
function nicSpec(n: Nic): Nic {
  return { ...(n.network ? { network: n.network } : {}), ...(n.tap && !n.network ? { tap: n.tap } : {}), ...(n.mac ? { mac: n.mac } : {}) };
}

export function HardwareEditor({ vm, onSaved }: { vm: Vm; onSaved: () => void }) {
  const s = useObservable(session);
  const networks = useResource(() => api<{ networks: Network[] }>('GET', '/api/v1/networks'), []);
  const [vcpus, setVcpus] = useState(String(vm.vcpus));
  const [memory, setMemory] = useState(String(vm.memoryMiB));
  const [disks, setDisks] = useState<Disk[]>(vm.disks);
  const [nics, setNics] = useState<Nic[]>(vm.nics.map(nicSpec));
  const [newDiskGiB, setNewDiskGiB] = useState('1');
  const [newNet, setNewNet] = useState('');
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setVcpus(String(vm.vcpus));
    setMemory(String(vm.memoryMiB));
    setDisks(vm.disks);
    setNics(vm.nics.map(nicSpec));
  }, [vm]);

  const editable = canOperate(s) && vm.state === 'stopped';
  const save = async (): Promise<void> => {
    setError(null);
    setSaved(false);
    try {
      await api('PATCH', `/api/v1/vms/${vm.id}`, { vcpus: Number(vcpus), memoryMiB: Number(memory), disks, nics });
      setSaved(true);
      onSaved();
    } catch (e) {
      setError({ message: errorText(e), field: e instanceof ApiFailure ? e.field : undefined });
    }
  };
  const fieldErr = (prefix: string): string | null => (error?.field?.startsWith(prefix) ? error.message : null);

  return (
    <Section title="Hardware" actions={editable ? <button type="button" className="primary small" onClick={() => void save()}>Save</button> : <span className="muted">{vm.state === 'stopped' ? 'read-only for your role' : 'stop the VM to edit'}</span>}>
      {error && !error.field && <ErrorBox error={error.message} />}
      {saved && <div className="ok-box">Saved.</div>}
      <fieldset disabled={!editable} className="plain">
        <div className="form-grid">
          <Field label="vCPUs" name="vcpus" error={fieldErr('vcpus')}><input type="number" value={vcpus} onChange={(e) => setVcpus(e.target.value)} /></Field>
          <Field label="Memory (MiB)" name="memoryMiB" error={fieldErr('memoryMiB')}><input type="number" step={64} value={memory} onChange={(e) => setMemory(e.target.value)} /></Field>
        </div>
        <h3>Disks</h3>
        {fieldErr('disks') && <ErrorBox error={fieldErr('disks')} />}
        <ul className="hw-list">
          {vm.image && <li><span className="mono">boot disk: linked clone of image {vm.image}</span></li>}
          {disks.map((d, i) => (
            <li key={i}><span className="mono">{describeDisk(d)}</span>{d.readonly ? ' · read-only' : ''}
              <button type="button" className="small" onClick={() => setDisks(disks.filter((_, j) => j !== i))}>Remove</button></li>
          ))}
          <li className="hw-add">
            <input type="number" step="any" min={0} aria-label="New disk size (GiB)" value={newDiskGiB} onChange={(e) => setNewDiskGiB(e.target.value)} /> GiB
            <button type="button" className="small" onClick={() => setDisks([...disks, { sizeBytes: Math.round(Number(newDiskGiB) * 1024 ** 3), format: 'qcow2' }])}>Add disk</button>
          </li>
        </ul>
        <h3>Network interfaces</h3>
        {fieldErr('nics') && <ErrorBox error={fieldErr('nics')} />}
        <ul className="hw-list">
          {nics.map((n, i) => (
            <li key={i}><span className="mono">{n.network ? `network ${n.network}` : `tap ${n.tap}`}{n.mac ? ` · ${n.mac}` : ''}</span>
              <button type="button" className="small" onClick={() => setNics(nics.filter((_, j) => j !== i))}>Remove</button></li>
          ))}
          <li className="hw-add">
            <select aria-label="Network for a new NIC" value={newNet} onChange={(e) => setNewNet(e.target.value)}>
              <option value="">choose a network…</option>
              {(networks.data?.networks ?? []).map((n) => <option key={n.name} value={n.name}>{n.name} ({n.subnet})</option>)}
            </select>
            <button type="button" className="small" disabled={!newNet} onClick={() => setNics([...nics, { network: newNet }])}>Add NIC</button>
          </li>
        </ul>
      </fieldset>
    </Section>
  );
}
