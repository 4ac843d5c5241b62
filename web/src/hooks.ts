/** Hooks for live data: observables, API resources that reload on events, intervals. */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Observable } from './observable';
import { errorText } from './api';
import { events } from './events';
import type { PlatformEvent } from './types';

export function useObservable<T>(o: Observable<T>): T {
  return useSyncExternalStore((cb) => o.subscribe(cb), () => o.get());
}

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `load()` and reloads it whenever an event matching `reloadOn` arrives (coalesced to one reload per
 * 250 ms) and whenever the event stream reconnects (the daemon may have changed while we were away).
 */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], reloadOn?: (e: PlatformEvent) => boolean): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reloadOnRef = useRef(reloadOn);
  reloadOnRef.current = reloadOn;
  const generation = useRef(0);

  const reload = useCallback(() => {
    const gen = ++generation.current;
    setLoading(true);
    loadRef.current().then(
      (v) => {
        if (gen !== generation.current) return;
        setData(v);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (gen !== generation.current) return;
        setError(errorText(e));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    reload();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const schedule = (): void => {
      if (timer === null) timer = setTimeout(() => { timer = null; reload(); }, 250);
    };
    const offEvent = events.onEvent((e) => {
      if (reloadOnRef.current?.(e)) schedule();
    });
    const offResync = events.onResync(schedule);
    return () => {
      offEvent();
      offResync();
      if (timer !== null) clearTimeout(timer);
    };
  }, deps);

  return { data, error, loading, reload };
}

export function useInterval(fn: () => void, ms: number): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}

/** Re-render every `ms` (for "3 min ago" and uptimes). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}
