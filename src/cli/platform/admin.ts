/** `typevisor task|user|token ...`. */
import type { Command } from 'commander';
import { clientFrom, CliError, withConnectionOptions } from './client.js';
import { printJson, printTable } from './output.js';
import { requireSuccess, watchTask, type TaskView } from './follow.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // One line: the password, without its newline.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function passwordFromStdin(o: { passwordStdin?: boolean }): Promise<string> {
  if (!o.passwordStdin) throw new CliError('give the password on standard input with --password-stdin');
  const p = await readStdin();
  if (p.length === 0) throw new CliError('empty password on standard input');
  return p;
}

export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('long operations on the node daemon');
  withConnectionOptions(task.command('list').description('recent tasks'))
    .option('--target <id>', 'only tasks on this target')
    .option('--status <status>', 'queued, running, succeeded or failed')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { target?: string; status?: string; limit: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const q = new URLSearchParams({ limit: o.limit, ...(o.target ? { target: o.target } : {}), ...(o.status ? { status: o.status } : {}) });
      const { tasks } = await api.call<{ tasks: (TaskView & { createdAt: string })[] }>('GET', `/api/v1/tasks?${q}`);
      if (json) return printJson(tasks);
      printTable(['ID', 'KIND', 'TARGET', 'STATUS', 'PROGRESS', 'CREATED', 'ERROR'], tasks.map((t) => [t.id, t.kind, t.target, t.status, `${Math.round(t.progress * 100)}%`, t.createdAt, t.error]));
    });
  withConnectionOptions(task.command('show <id>').description('one task and its log')).action(async (id: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const t = await api.call<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
    if (json) return printJson(t);
    process.stdout.write(`${t.id} ${t.kind} ${t.target ?? ''} ${t.status} ${Math.round(t.progress * 100)}%${t.error ? ` error: ${t.error}` : ''}\n`);
    for (const line of t.log) process.stdout.write(`  ${line}\n`);
  });
  withConnectionOptions(task.command('watch <id>').description('follow a task to its end')).action(async (id: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const t = await watchTask(api, id, { quiet: json });
    if (json) printJson(t);
    else process.stdout.write(`${t.kind}: ${t.status}${t.error ? `: ${t.error}` : ''}\n`);
    requireSuccess(t);
  });
}

interface User { id: string; name: string; role: string; createdAt: string }
interface Token { id: string; name: string; role: string; createdAt: string; expiresAt: string | null }

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('users of the web UI (admin only)');
  withConnectionOptions(user.command('add <name>').description('create a user'))
    .requiredOption('--role <role>', 'admin, operator or viewer')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { role: string; passwordStdin?: boolean }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const u = await api.call<User>('POST', '/api/v1/users', { name, role: o.role, password: await passwordFromStdin(o) });
      if (json) printJson(u);
      else process.stdout.write(`created user ${u.name} (${u.role})\n`);
    });
  withConnectionOptions(user.command('list').description('list users')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { users } = await api.call<{ users: User[] }>('GET', '/api/v1/users');
    if (json) return printJson(users);
    printTable(['NAME', 'ROLE', 'CREATED', 'ID'], users.map((u) => [u.name, u.role, u.createdAt, u.id]));
  });
  withConnectionOptions(user.command('delete <name>').description('delete a user')).action(async (name: string, _o, cmd: Command) => {
    const { api } = clientFrom(cmd);
    await api.call('DELETE', `/api/v1/users/${encodeURIComponent(name)}`);
    process.stdout.write(`deleted user ${name}\n`);
  });
  withConnectionOptions(user.command('passwd <name>').description('set a user\'s password (ends their sessions)'))
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }, cmd: Command) => {
      const { api } = clientFrom(cmd);
      await api.call('PATCH', `/api/v1/users/${encodeURIComponent(name)}`, { password: await passwordFromStdin(o) });
      process.stdout.write(`password of ${name} changed\n`);
    });
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens (admin only)');
  withConnectionOptions(token.command('create <name>').description('create a token; its secret is printed once'))
    .requiredOption('--role <role>', 'admin, operator or viewer')
    .option('--expires-days <n>', 'expire after this many days')
    .action(async (name: string, o: { role: string; expiresDays?: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const r = await api.call<{ token: Token; secret: string }>('POST', '/api/v1/tokens', {
        name,
        role: o.role,
        ...(o.expiresDays ? { expiresInDays: Number(o.expiresDays) } : {}),
      });
      if (json) return printJson(r);
      process.stdout.write(`${r.secret}\n`);
      process.stderr.write(`token ${r.token.name} (${r.token.role}, id ${r.token.id}): the secret above is not shown again\n`);
    });
  withConnectionOptions(token.command('list').description('list tokens')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { tokens } = await api.call<{ tokens: Token[] }>('GET', '/api/v1/tokens');
    if (json) return printJson(tokens);
    printTable(['NAME', 'ROLE', 'CREATED', 'EXPIRES', 'ID'], tokens.map((t) => [t.name, t.role, t.createdAt, t.expiresAt, t.id]));
  });
  withConnectionOptions(token.command('revoke <id>').description('revoke a token (id, or name: every token of that name)')).action(async (id: string, _o, cmd: Command) => {
    const { api } = clientFrom(cmd);
    await api.call('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    process.stdout.write(`revoked ${id}\n`);
  });
}
