/** Small shared pieces: state badges, form fields with API errors, buttons, progress bars, error boxes. */
import type { ReactNode } from 'react';
import type { TaskStatus, VmState } from '../types';

export function StateBadge({ state }: { state: VmState | TaskStatus | string }) {
  return <span className={`badge badge-${state}`} data-state={state}>{state}</span>;
}

export function Field(props: { label: string; name: string; error?: string | null; hint?: string; children: ReactNode }) {
  return (
    <label className={`field${props.error ? ' field-invalid' : ''}`} data-field={props.name}>
      <span className="field-label">{props.label}</span>
      {props.children}
      {props.error ? <span className="field-error" role="alert">{props.error}</span> : props.hint ? <span className="field-hint">{props.hint}</span> : null}
    </label>
  );
}

export function ErrorBox({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return <div className="error-box" role="alert">{error}</div>;
}

export function Progress({ value, label }: { value: number; label?: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div className="progress" role="progressbar" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100} aria-label={label}>
      <div className="progress-fill" style={{ width: `${pct}%` }} />
      <span className="progress-text">{pct}%</span>
    </div>
  );
}

export function Meter({ used, total }: { used: number; total: number }) {
  const pct = total > 0 ? Math.round((used / total) * 100) : 0;
  return (
    <div className={`meter${pct > 90 ? ' meter-high' : ''}`} title={`${pct}%`}>
      <div className="meter-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

export function Section(props: { title: string; actions?: ReactNode; children: ReactNode; id?: string }) {
  return (
    <section className="card" id={props.id}>
      <header className="card-head">
        <h2>{props.title}</h2>
        <div className="card-actions">{props.actions}</div>
      </header>
      {props.children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
