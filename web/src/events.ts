/**
 * The event stream (`/api/v1/events` WebSocket): one connection while logged
 * in, reconnecting with backoff. Pages subscribe to events; a reconnect is a
 * "resync" (reload what you show: events were missed). It also keeps the
 * live task list the tasks panel shows.
 */
import { api, connection, session, wsUrl } from './api';
import { Observable } from './observable';
import type { PlatformEvent, Task } from './types';

const MAX_TASKS = 60;

class EventStream {
  private ws: WebSocket | null = null;
  private retryMs = 500;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private token: string | null = null;
  private readonly eventListeners = new Set<(e: PlatformEvent) => void>();
  private readonly resyncListeners = new Set<() => void>();
  readonly open = new Observable<boolean>(false);
  readonly tasks = new Observable<Task[]>([]);
  /** VM id -> name, so task targets (VM ids) read as names. */
  readonly vmNames = new Observable<ReadonlyMap<string, string>>(new Map());

  constructor() {
    session.subscribe((s) => this.follow(s?.token ?? null));
    this.follow(session.get()?.token ?? null);
  }

  onEvent(l: (e: PlatformEvent) => void): () => void {
    this.eventListeners.add(l);
    return () => this.eventListeners.delete(l);
  }

  onResync(l: () => void): () => void {
    this.resyncListeners.add(l);
    return () => this.resyncListeners.delete(l);
  }

  private follow(token: string | null): void {
    if (token === this.token) return;
    this.token = token;
    this.close();
    this.tasks.set([]);
    if (token) this.connect();
  }

  private close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    this.open.set(false);
  }

  private connect(): void {
    const token = this.token;
    if (!token) return;
    const ws = new WebSocket(wsUrl(`/api/v1/events?token=${encodeURIComponent(token)}`));
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.open.set(true);
      if (connection.get().state !== 'up') connection.set({ state: 'up' });
      void this.loadTasks();
      void this.loadVmNames();
      for (const l of [...this.resyncListeners]) l();
    };
    ws.onmessage = (m) => {
      let e: PlatformEvent;
      try {
        e = JSON.parse(String(m.data)) as PlatformEvent;
      } catch {
        return;
      }
      this.applyToTasks(e);
      this.applyToVmNames(e);
      for (const l of [...this.eventListeners]) l(e);
    };
    ws.onclose = () => {
      this.ws = null;
      const wasOpen = this.open.get();
      this.open.set(false);
      if (wasOpen || connection.get().state === 'up') {
        // A closed stream usually means the daemon went away; a failed request will confirm or clear it.
        if (connection.get().state === 'up') connection.set({ state: 'down', since: Date.now(), reason: 'lost the event stream from the daemon' });
      }
      // An expired session: the API answers 401 and logs us out; do not keep knocking.
      void api('GET', '/api/v1/auth/whoami').catch(() => undefined);
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 8000);
    };
  }

  private async loadTasks(): Promise<void> {
    try {
      const r = await api<{ tasks: Task[] }>('GET', '/api/v1/tasks?limit=40');
      const known = new Map(this.tasks.get().map((t) => [t.id, t]));
      for (const t of r.tasks) known.set(t.id, { ...known.get(t.id), ...t });
      this.publishTasks([...known.values()]);
    } catch {
      /* shown by the connection banner */
    }
  }

  private async loadVmNames(): Promise<void> {
    try {
      const r = await api<{ vms: { id: string; name: string }[] }>('GET', '/api/v1/vms');
      this.vmNames.set(new Map(r.vms.map((v) => [v.id, v.name])));
    } catch {
      /* shown by the connection banner */
    }
  }

  private applyToVmNames(e: PlatformEvent): void {
    if (e.type === 'vm.created' || e.type === 'vm.updated' || e.type === 'vm.state') {
      const id = 'vm' in e ? e.vm.id : e.id;
      const name = 'vm' in e ? e.vm.name : e.name;
      if (this.vmNames.get().get(id) !== name) this.vmNames.set(new Map([...this.vmNames.get(), [id, name]]));
    }
  }

  private applyToTasks(e: PlatformEvent): void {
    const list = this.tasks.get();
    switch (e.type) {
      case 'task.created':
      case 'task.finished': {
        const old = list.find((t) => t.id === e.task.id);
        this.publishTasks([{ ...old, ...e.task, log: e.task.log ?? old?.log ?? [] }, ...list.filter((t) => t.id !== e.task.id)]);
        break;
      }
      case 'task.progress':
        this.publishTasks(list.map((t) => (t.id === e.id ? { ...t, progress: e.progress } : t)));
        break;
      case 'task.log':
        this.publishTasks(list.map((t) => (t.id === e.id ? { ...t, log: [...(t.log ?? []), e.line] } : t)));
        break;
      default:
    }
  }

  private publishTasks(list: Task[]): void {
    list.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    this.tasks.set(list.slice(0, MAX_TASKS));
  }
}

export const events = new EventStream();
