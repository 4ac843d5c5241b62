/** The tasks panel: running and recent tasks, live from the event stream; a task's log opens in place. */
import { useEffect, useState } from 'react';
import { events } from '../events';
import { useNow, useObservable } from '../hooks';
import { Progress, StateBadge, Empty } from '../components/ui';
import { ago } from '../format';

export function TasksPanel({ open, onClose }: { open: boolean; onClose: () => void }) {
  const tasks = useObservable(events.tasks);
  const connected = useObservable(events.open);
  const names = useObservable(events.vmNames);
  const now = useNow(5000);
  const [expanded, setExpanded] = useState<string | null>(null);
  const running = tasks.filter((t) => t.status === 'running' || t.status === 'queued').length;

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent): void => { if (e.key === 'Escape') onClose(); };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open, onClose]);

  return (
    <>
      {!open && running > 0 && <div className="tasks-pill" aria-live="polite">{running} task{running > 1 ? 's' : ''} running (t)</div>}
      <aside className={open ? 'tasks-panel open' : 'tasks-panel'} aria-label="Tasks" aria-hidden={!open}>
        <header>
          <h2>Tasks</h2>
          <span className={`dot dot-${connected ? 'connected' : 'disconnected'}`} title={connected ? 'live' : 'reconnecting'} />
          <button type="button" className="small" onClick={onClose}>Close</button>
        </header>
        {tasks.length === 0 ? <Empty>No tasks yet.</Empty> : (
          <ul>
            {tasks.map((t) => (
              <li key={t.id} className="task">
                <button type="button" className="task-head" onClick={() => setExpanded(expanded === t.id ? null : t.id)} aria-expanded={expanded === t.id}>
                  <span className="strong">{t.kind}</span> <StateBadge state={t.status} />
                  <span className="muted task-time">{ago(t.createdAt, now)}</span>
                </button>
                {t.target && <div className="muted ellipsis small-text">{names.get(t.target) ?? t.target}</div>}
                {(t.status === 'running' || t.status === 'queued') && <Progress value={t.progress} />}
                {t.error && <div className="error-text small-text">{t.error}</div>}
                {expanded === t.id && <pre className="log">{(t.log ?? []).join('\n') || '(no log lines)'}</pre>}
              </li>
            ))}
          </ul>
        )}
      </aside>
    </>
  );
}
