/** `typevisor storage ...`: storage pools. */
import type { Command } from 'commander';
import { clientFrom, withConnectionOptions } from './client.js';
import { formatBytes, printJson, printTable } from './output.js';

interface Pool {
  name: string;
  kind: string;
  path: string;
  capacityBytes: number;
  freeBytes: number;
}

export function registerStorageCommands(program: Command): void {
  const storage = program.command('storage').description('storage pools (where volumes live)');

  withConnectionOptions(storage.command('list').description('list pools')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { pools } = await api.call<{ pools: Pool[] }>('GET', '/api/v1/pools');
    if (json) return printJson(pools);
    printTable(['NAME', 'KIND', 'PATH', 'SIZE', 'FREE'], pools.map((p) => [p.name, p.kind, p.path, formatBytes(p.capacityBytes), formatBytes(p.freeBytes)]));
  });

  withConnectionOptions(storage.command('show <name>').description('one pool')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const p = await api.call<Pool>('GET', `/api/v1/pools/${encodeURIComponent(name)}`);
    if (json) return printJson(p);
    printTable(['FIELD', 'VALUE'], [['name', p.name], ['kind', p.kind], ['path', p.path], ['size', formatBytes(p.capacityBytes)], ['free', formatBytes(p.freeBytes)]]);
  });

  withConnectionOptions(
    storage.command('add <name>').description('add a directory pool (the directory must exist)').requiredOption('--path <dir>', 'absolute directory path'),
  ).action(async (name: string, o: { path: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const p = await api.call<Pool>('POST', '/api/v1/pools', { name, kind: 'dir', path: o.path });
    if (json) return printJson(p);
    process.stdout.write(`pool ${p.name} added at ${p.path}\n`);
  });

  withConnectionOptions(storage.command('remove <name>').description('forget an empty pool (its directory stays)')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    await api.call('DELETE', `/api/v1/pools/${encodeURIComponent(name)}`);
    if (json) return printJson({ removed: name });
    process.stdout.write(`pool ${name} removed\n`);
  });
}
