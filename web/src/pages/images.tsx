/** Images: list, build from a recipe with live progress and log (task events), delete. */
import { useEffect, useRef, useState } from 'react';
import { api, ApiFailure, errorText, isAdmin, session } from '../api';
import { events } from '../events';
import { useObservable, useResource } from '../hooks';
import { useConfirm } from '../components/confirm';
import { Empty, ErrorBox, Field, Progress, Section, StateBadge } from '../components/ui';
import { bytes, duration } from '../format';
import type { Image, Recipe, Task } from '../types';

export function ImagesPage() {
  const s = useObservable(session);
  const images = useResource(() => api<{ images: Image[] }>('GET', '/api/v1/images'), [], (e) => e.type === 'task.finished' || e.type === 'task.created');
  const recipes = useResource(() => api<{ recipes: Recipe[] }>('GET', '/api/v1/images/recipes'), []);
  const [form, setForm] = useState({ name: '', recipe: '' });
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [dialog, ask] = useConfirm();
  const recipe = form.recipe || recipes.data?.recipes[0]?.name || '';

  const build = async (): Promise<void> => {
    setError(null);
    try {
      await api('POST', '/api/v1/images', { name: form.name.trim(), recipe });
      setForm({ ...form, name: '' });
      images.reload();
    } catch (e) {
      setError({ message: errorText(e), field: e instanceof ApiFailure ? e.field : undefined });
    }
  };
  const remove = async (i: Image): Promise<void> => {
    if (!(await ask({ title: `Delete image ${i.name}?`, body: 'Its disk, kernel and initrd are deleted.', confirm: 'Delete', danger: true }))) return;
    try {
      await api('DELETE', `/api/v1/images/${encodeURIComponent(i.name)}`);
      images.reload();
    } catch (e) {
      setError({ message: errorText(e) });
    }
  };

  return (
    <div className="page">
      <header className="page-head"><h1>Images</h1></header>
      {error && !error.field && <ErrorBox error={error.message} />}
      <ErrorBox error={images.error} />
      <Section title="Images">
        {images.data?.images.length === 0 ? <Empty>No images yet: build one below.</Empty> : (
          <div className="image-list">
            {(images.data?.images ?? []).map((i) => (
              <div key={i.name} className="image-row" data-image={i.name}>
                <div className="image-main">
                  <span className="strong">{i.name}</span> <StateBadge state={i.status} />
                  <span className="muted"> {i.recipe} · {bytes(i.disk.virtualSizeBytes)} disk{i.buildSeconds ? ` · built in ${duration(i.buildSeconds * 1000)}` : ''} · {i.clones} clone{i.clones === 1 ? '' : 's'}</span>
                  <button type="button" className="danger small push-right" disabled={!isAdmin(s) || i.status === 'building'} onClick={() => void remove(i)}>Delete</button>
                </div>
                {i.status === 'building' && i.taskId && <BuildProgress taskId={i.taskId} />}
              </div>
            ))}
          </div>
        )}
      </Section>
      <Section title="Build an image" actions={isAdmin(s) ? null : <span className="muted">building and deleting images needs the admin role</span>}>
        <form className="form-row" onSubmit={(e) => { e.preventDefault(); void build(); }}>
          <Field label="Name" name="name" error={error?.field === 'name' ? error.message : null}>
            <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} disabled={!isAdmin(s)} required />
          </Field>
          <Field label="Recipe" name="recipe" error={error?.field === 'recipe' ? error.message : null}>
            <select value={recipe} onChange={(e) => setForm({ ...form, recipe: e.target.value })} disabled={!isAdmin(s)}>
              {(recipes.data?.recipes ?? []).map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
            </select>
          </Field>
          <button type="submit" className="primary" disabled={!isAdmin(s)}>Build</button>
        </form>
        <p className="muted">{recipes.data?.recipes.find((r) => r.name === recipe)?.description}</p>
      </Section>
      {dialog}
    </div>
  );
}

/** A build task's progress bar and log, fed by task.progress / task.log events after one GET. */
export function BuildProgress({ taskId }: { taskId: string }) {
  const [task, setTask] = useState<Task | null>(null);
  const logRef = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let alive = true;
    const load = (): void => void api<Task>('GET', `/api/v1/tasks/${taskId}`).then((t) => alive && setTask(t), () => undefined);
    load();
    const off = events.onEvent((e) => {
      if (e.type === 'task.progress' && e.id === taskId) setTask((t) => (t ? { ...t, progress: e.progress } : t));
      else if (e.type === 'task.log' && e.id === taskId) setTask((t) => (t ? { ...t, log: [...(t.log ?? []), e.line] } : t));
      else if (e.type === 'task.finished' && e.task.id === taskId) setTask((t) => ({ ...e.task, log: e.task.log ?? t?.log ?? [] }));
    });
    const offResync = events.onResync(load);
    return () => { alive = false; off(); offResync(); };
  }, [taskId]);
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [task?.log?.length]);
  if (!task) return null;
  return (
    <div className="build">
      <Progress value={task.progress} label={`build ${taskId}`} />
      <pre className="log" ref={logRef}>{(task.log ?? []).join('\n') || 'waiting for output…'}</pre>
      {task.error && <ErrorBox error={task.error} />}
    </div>
  );
}
