/**
 * Follow a task to its end through the event WebSocket (progress bar on a
 * terminal, log lines otherwise), falling back to polling when the socket
 * cannot be opened. The socket is opened before the request that creates the
 * task, so no event is missed.
 */
import type WebSocket from 'ws';
import { ApiClient, CliError } from './client.js';
import { progressBar } from './output.js';

export interface TaskView {
  id: string;
  kind: string;
  target: string | null;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  progress: number;
  log: string[];
  error: string | null;
}

type Msg = { type: string; id?: string; progress?: number; line?: string; task?: TaskView };

export async function runTask(api: ApiClient, start: () => Promise<{ task: TaskView }>, opts: { quiet?: boolean } = {}): Promise<TaskView> {
  const ws = await openEvents(api).catch(() => null);
  try {
    const { task } = await start();
    return await followTask(api, task, ws, opts);
  } finally {
    ws?.close();
  }
}

export async function watchTask(api: ApiClient, id: string, opts: { quiet?: boolean } = {}): Promise<TaskView> {
  const ws = await openEvents(api).catch(() => null);
  try {
    const task = await api.call<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
    return await followTask(api, task, ws, opts);
  } finally {
    ws?.close();
  }
}

function openEvents(api: ApiClient): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = api.websocket('/api/v1/events');
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new CliError(`event stream refused: HTTP ${res.statusCode}`)));
  });
}

async function followTask(api: ApiClient, task: TaskView, ws: WebSocket | null, opts: { quiet?: boolean }): Promise<TaskView> {
  const tty = process.stderr.isTTY && !opts.quiet;
  const label = `${task.kind}${task.target ? ' ' + task.target.slice(0, 8) : ''}`;
  const draw = (p: number): void => {
    if (tty) process.stderr.write(`\r${progressBar(p)} ${label}`);
  };
  const say = (line: string): void => {
    if (opts.quiet) return;
    if (tty) process.stderr.write(`\r\x1b[K${line}\n`);
    else process.stderr.write(`${line}\n`);
  };
  if (task.status === 'succeeded' || task.status === 'failed') return task;
  draw(task.progress);
  const done = new Promise<TaskView>((resolve) => {
    if (!ws) return;
    ws.on('message', (data) => {
      let m: Msg;
      try {
        m = JSON.parse(String(data)) as Msg;
      } catch {
        return;
      }
      if (m.type === 'task.progress' && m.id === task.id) draw(m.progress ?? 0);
      else if (m.type === 'task.log' && m.id === task.id) {
        say(`  ${m.line}`);
        draw(task.progress);
      } else if (m.type === 'task.finished' && m.task?.id === task.id) resolve(m.task);
    });
  });
  // Poll too (slowly): covers a dropped socket and a task that ended before we subscribed.
  const poll = (async (): Promise<TaskView> => {
    for (;;) {
      await new Promise((r) => setTimeout(r, ws ? 2000 : 500));
      const t = await api.call<TaskView>('GET', `/api/v1/tasks/${task.id}`);
      if (t.status === 'succeeded' || t.status === 'failed') return t;
    }
  })();
  const final = await Promise.race([done, poll]);
  if (tty) process.stderr.write(`\r\x1b[K`);
  return final;
}

/** Exit non-zero with the task's error when it failed. */
export function requireSuccess(task: TaskView): void {
  if (task.status === 'failed') throw new CliError(`task ${task.kind} failed: ${task.error ?? 'unknown error'}`);
}
