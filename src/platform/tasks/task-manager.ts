/**
 * Long operations as tasks: a row in `tasks` (written at each status change
 * and at the end) plus live progress and log lines in memory, published on
 * the event bus as they happen.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/database.js';
import type { EventBus } from '../events/event-bus.js';
import { notFound } from '../http/api-error.js';

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Task {
  id: string;
  kind: string;
  target: string | null;
  status: TaskStatus;
  progress: number;
  log: string[];
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TaskContext {
  log(line: string): void;
  /** Fraction done, 0..1. */
  progress(fraction: number): void;
}

interface TaskRow {
  id: string;
  kind: string;
  target: string | null;
  status: TaskStatus;
  progress: number;
  error: string | null;
  log: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** Log lines kept per task (oldest dropped first). */
const MAX_LOG_LINES = 1000;
/** Finished tasks kept in the table. */
const KEEP_FINISHED_TASKS = 2000;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class TaskManager {
  private readonly live = new Map<string, TaskRow & { logLines: string[] }>();
  private readonly done = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly events: EventBus,
  ) {
    // Tasks that were running when a previous daemon stopped can never finish.
    db.prepare(
      "UPDATE tasks SET status = 'failed', error = 'the daemon stopped while this task ran', finished_at = ? WHERE status IN ('queued', 'running')",
    ).run(Date.now());
  }

  /** Start `work` as a task now; returns the task in its `running` state. */
  run(kind: string, target: string | null, work: (ctx: TaskContext) => Promise<void>): Task {
    const now = Date.now();
    const row: TaskRow & { logLines: string[] } = {
      id: randomUUID(),
      kind,
      target,
      status: 'running',
      progress: 0,
      error: null,
      log: '[]',
      logLines: [],
      created_at: now,
      started_at: now,
      finished_at: null,
    };
    this.live.set(row.id, row);
    this.persist(row, true);
    this.events.publish({ type: 'task.created', task: this.toTask(row) });
    const ctx: TaskContext = {
      log: (line) => {
        row.logLines.push(`${new Date().toISOString()} ${line}`);
        if (row.logLines.length > MAX_LOG_LINES) row.logLines.shift();
        this.events.publish({ type: 'task.log', id: row.id, line });
      },
      progress: (fraction) => {
        row.progress = Math.min(1, Math.max(0, fraction));
        this.events.publish({ type: 'task.progress', id: row.id, progress: row.progress });
      },
    };
    const p = (async () => {
      try {
        await work(ctx);
        row.status = 'succeeded';
        row.progress = 1;
      } catch (e) {
        row.status = 'failed';
        row.error = e instanceof Error ? e.message : String(e);
        ctx.log(`error: ${row.error}`);
      }
      row.finished_at = Date.now();
      this.persist(row, false);
      this.live.delete(row.id);
      this.events.publish({ type: 'task.finished', task: this.toTask(row) });
    })();
    this.done.add(p);
    void p.finally(() => this.done.delete(p));
    return this.toTask(row);
  }

  get(id: string): Task {
    const live = this.live.get(id);
    if (live) return this.toTask(live);
    const row = this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
    if (!row) throw notFound(`task ${JSON.stringify(id)}`);
    return this.toTask(row);
  }

  list(opts: { target?: string; status?: TaskStatus; limit?: number } = {}): Task[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.target) { where.push('target = ?'); args.push(opts.target); }
    if (opts.status) { where.push('status = ?'); args.push(opts.status); }
    const sql = `SELECT * FROM tasks ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, opts.limit ?? 100) as TaskRow[];
    return rows.map((r) => this.toTask(this.live.get(r.id) ?? r));
  }

  /** Wait for every running task (daemon shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.done]);
  }

  private persist(row: TaskRow & { logLines: string[] }, insert: boolean): void {
    const values = { ...row, log: JSON.stringify(row.logLines) };
    if (insert) {
      this.db
        .prepare('INSERT INTO tasks (id, kind, target, status, progress, error, log, created_at, started_at, finished_at) VALUES (@id, @kind, @target, @status, @progress, @error, @log, @created_at, @started_at, @finished_at)')
        .run(values);
    } else {
      this.db.transaction(() => {
        this.db.prepare('UPDATE tasks SET status = @status, progress = @progress, error = @error, log = @log, finished_at = @finished_at WHERE id = @id').run(values);
        this.db
          .prepare("DELETE FROM tasks WHERE status IN ('succeeded','failed') AND id NOT IN (SELECT id FROM tasks ORDER BY created_at DESC LIMIT ?)")
          .run(KEEP_FINISHED_TASKS);
      })();
    }
  }

  private toTask(row: TaskRow & { logLines?: string[] }): Task {
    return {
      id: row.id,
      kind: row.kind,
      target: row.target,
      status: row.status,
      progress: row.progress,
      log: row.logLines ? [...row.logLines] : (JSON.parse(row.log) as string[]),
      error: row.error,
      createdAt: iso(row.created_at)!,
      startedAt: iso(row.started_at),
      finishedAt: iso(row.finished_at),
    };
  }
}
