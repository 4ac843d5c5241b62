/**
 * Create-VM wizard: image, name, size, disk, networks, cloud-init. The API validates; its error's `field`
 * (e.g. "memoryMiB", "cloudInit.hostname", "disks[0].sizeBytes") puts the message next to the input.
 */
import { useState, type FormEvent } from 'react';
import { api, ApiFailure, canOperate, errorText, session } from '../api';
import { useObservable, useResource } from '../hooks';
import { ErrorBox, Field, Section } from '../components/ui';
import { navigate } from '../router';
import type { Image, Network, Vm } from '../types';
import { inputForField } from '../logic';

export function VmCreatePage() {
  const s = useObservable(session);
  const images = useResource(() => api<{ images: Image[] }>('GET', '/api/v1/images'), [], (e) => e.type === 'task.finished');
  const networks = useResource(() => api<{ networks: Network[] }>('GET', '/api/v1/networks'), []);
  const [form, setForm] = useState({
    name: '', image: '', engine: '', vcpus: '1', memoryMiB: '512', diskGiB: '', diskFormat: 'qcow2',
    networks: [] as string[], hostname: '', sshKey: '', kernel: '', initrd: '', cmdline: 'console=ttyS0',
  });
  const [fieldError, setFieldError] = useState<{ input: string; message: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form, v: string | string[]): void => setForm((f) => ({ ...f, [k]: v }));
  const errFor = (input: string): string | null => (fieldError?.input === input ? fieldError.message : null);
  const ready = (images.data?.images ?? []).filter((i) => i.status === 'ready');

  const submit = async (e: FormEvent, start: boolean): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFieldError(null);
    const body: Record<string, unknown> = { name: form.name.trim(), vcpus: Number(form.vcpus), memoryMiB: Number(form.memoryMiB) };
    if (form.engine) body['engine'] = form.engine;
    if (form.image) body['image'] = form.image;
    else if (form.kernel) body['boot'] = { kernel: form.kernel, ...(form.initrd ? { initrd: form.initrd } : {}), ...(form.cmdline ? { cmdline: form.cmdline } : {}) };
    if (form.diskGiB) body['disks'] = [{ sizeBytes: Math.round(Number(form.diskGiB) * 1024 ** 3), format: form.diskFormat }];
    if (form.networks.length > 0) body['nics'] = form.networks.map((n) => ({ network: n }));
    if (form.hostname || form.sshKey) {
      body['cloudInit'] = { ...(form.hostname ? { hostname: form.hostname } : {}), ...(form.sshKey.trim() ? { sshAuthorizedKeys: form.sshKey.trim().split('\n').filter(Boolean) } : {}) };
    }
    try {
      const vm = await api<Vm>('POST', '/api/v1/vms', body);
      if (start) await api('POST', `/api/v1/vms/${vm.id}/start`).catch((err: unknown) => setError(`created, but start failed: ${errorText(err)}`));
      navigate(`/vms/${vm.name}`);
    } catch (err) {
      const input = err instanceof ApiFailure ? inputForField(err.field) : null;
      if (input && err instanceof ApiFailure) {
        setFieldError({ input, message: err.message });
        setTimeout(() => document.querySelector<HTMLElement>(`[data-field="${input}"] :is(input, select, textarea)`)?.focus(), 0);
      }
      else setError(errorText(err));
      setBusy(false);
    }
  };

  const disabled = !canOperate(s) || busy;
  return (
    <div className="page narrow">
      <header className="page-head"><h1>Create a virtual machine</h1></header>
      {!canOperate(s) && <div className="error-box">Your role ({s?.role}) may not create VMs.</div>}
      <ErrorBox error={error ?? images.error} />
      <form onSubmit={(e) => void submit(e, false)} className="form" aria-label="Create VM">
        <Section title="1 · Image and name">
          <div className="form-grid">
            <Field label="Name" name="name" error={errFor('name')} hint="lower-case letters, digits and dashes">
              <input name="name" autoFocus value={form.name} onChange={(e) => set('name', e.target.value)} required />
            </Field>
            <Field label="Image" name="image" error={errFor('image')} hint={ready.length === 0 ? 'no ready images: build one on the Images page, or boot a kernel below' : 'a linked clone of the image disk boots the VM'}>
              <select name="image" value={form.image} onChange={(e) => set('image', e.target.value)}>
                <option value="">— none (boot a kernel) —</option>
                {ready.map((i) => <option key={i.name} value={i.name}>{i.name} ({i.recipe})</option>)}
              </select>
            </Field>
            <Field label="Engine" name="engine" error={errFor('engine')} hint="default: chosen from the host">
              <select name="engine" value={form.engine} onChange={(e) => set('engine', e.target.value)}>
                <option value="">default</option>
                <option value="typevisor">typevisor</option>
                <option value="qemu">qemu</option>
              </select>
            </Field>
          </div>
          {!form.image && (
            <div className="form-grid">
              <Field label="Kernel (host path)" name="boot.kernel" error={errFor('boot.kernel')}>
                <input name="kernel" value={form.kernel} onChange={(e) => set('kernel', e.target.value)} placeholder="/path/to/vmlinuz" />
              </Field>
              <Field label="Initrd (host path)" name="boot.initrd" error={errFor('boot.initrd')}>
                <input name="initrd" value={form.initrd} onChange={(e) => set('initrd', e.target.value)} />
              </Field>
              <Field label="Kernel command line" name="boot.cmdline" error={errFor('boot.cmdline')}>
                <input name="cmdline" value={form.cmdline} onChange={(e) => set('cmdline', e.target.value)} />
              </Field>
            </div>
          )}
        </Section>
        <Section title="2 · Hardware">
          <div className="form-grid">
            <Field label="vCPUs" name="vcpus" error={errFor('vcpus')}>
              <input name="vcpus" type="number" value={form.vcpus} onChange={(e) => set('vcpus', e.target.value)} />
            </Field>
            <Field label="Memory (MiB)" name="memoryMiB" error={errFor('memoryMiB')}>
              <input name="memoryMiB" type="number" step={64} value={form.memoryMiB} onChange={(e) => set('memoryMiB', e.target.value)} />
            </Field>
            <Field label="Extra disk (GiB)" name="disk" error={errFor('disk')} hint="empty: none">
              <input name="diskGiB" type="number" step="any" min={0} value={form.diskGiB} onChange={(e) => set('diskGiB', e.target.value)} />
            </Field>
            <Field label="Disk format" name="diskFormat">
              <select name="diskFormat" value={form.diskFormat} onChange={(e) => set('diskFormat', e.target.value)}>
                <option value="qcow2">qcow2</option>
                <option value="raw">raw</option>
              </select>
            </Field>
          </div>
          <Field label="Networks" name="networks" error={errFor('networks')} hint={(networks.data?.networks.length ?? 0) === 0 ? 'no networks defined (see Networks)' : undefined}>
            <div className="checks">
              {(networks.data?.networks ?? []).map((n) => (
                <label key={n.name} className="check">
                  <input type="checkbox" checked={form.networks.includes(n.name)} onChange={(e) => set('networks', e.target.checked ? [...form.networks, n.name] : form.networks.filter((x) => x !== n.name))} />
                  {n.name} <span className="muted">{n.subnet}{n.nat ? ' · NAT' : ''}</span>
                </label>
              ))}
            </div>
          </Field>
        </Section>
        <Section title="3 · Cloud-init">
          <div className="form-grid">
            <Field label="Hostname" name="hostname" error={errFor('hostname')}>
              <input name="hostname" value={form.hostname} onChange={(e) => set('hostname', e.target.value)} placeholder="defaults to the VM name" />
            </Field>
          </div>
          <Field label="SSH authorized keys (one per line)" name="sshKey" error={errFor('sshKey')}>
            <textarea name="sshKey" rows={3} value={form.sshKey} onChange={(e) => set('sshKey', e.target.value)} placeholder="ssh-ed25519 AAAA… user@host" />
          </Field>
        </Section>
        <div className="btn-row end">
          <button type="button" onClick={() => navigate('/vms')}>Cancel</button>
          <button type="submit" disabled={disabled}>Create</button>
          <button type="button" className="primary" disabled={disabled} onClick={(e) => void submit(e, true)}>Create and start</button>
        </div>
      </form>
    </div>
  );
}
