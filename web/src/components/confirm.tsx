/**
 * A confirmation dialog on the native <dialog> element (focus trapped by the browser, Escape cancels).
 * `useConfirm()` returns [element, ask]; `await ask({...})` resolves true when confirmed.
 */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

interface Question { title: string; body: ReactNode; confirm: string; danger?: boolean }

export function useConfirm(): [ReactNode, (q: Question) => Promise<boolean>] {
  const [q, setQ] = useState<(Question & { resolve: (v: boolean) => void }) | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (q && !d.open) {
      d.showModal();
      confirmRef.current?.focus();
    }
    if (!q && d.open) d.close();
  }, [q]);

  const answer = (v: boolean): void => {
    q?.resolve(v);
    setQ(null);
  };

  const ask = useCallback((question: Question) => new Promise<boolean>((resolve) => setQ({ ...question, resolve })), []);

  const el = (
    <dialog ref={ref} className="dialog" onCancel={(e) => { e.preventDefault(); answer(false); }}>
      {q && (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); answer(true); }}>
          <h3>{q.title}</h3>
          <div className="dialog-body">{q.body}</div>
          <div className="dialog-actions">
            <button type="button" onClick={() => answer(false)}>Cancel</button>
            <button type="submit" ref={confirmRef} className={q.danger ? 'danger' : 'primary'}>{q.confirm}</button>
          </div>
        </form>
      )}
    </dialog>
  );
  return [el, ask];
}
