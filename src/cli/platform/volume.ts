/**
 * `typevisor volume ...`: volumes in pools — create, resize, clone, check,
 * snapshots, and streamed upload (SHA-256 computed locally and verified by the
 * daemon) / download with a progress bar.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import { ApiClient, CliError, clientFrom, withConnectionOptions } from './client.js';
import { formatBytes, printJson, printTable, progressBar } from './output.js';
import { parseSize } from './sizes.js';

interface Volume {
  pool: string;
  name: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  path: string;
  base?: { pool: string; name: string };
  clones: Array<{ pool: string; name: string }>;
  attachedTo: Array<{ vmId: string; role: string }>;
}

const vol = (pool: string, name: string, rest = '') => `/api/v1/pools/${encodeURIComponent(pool)}/volumes/${encodeURIComponent(name)}${rest}`;

function printVolume(v: Volume): void {
  printTable(['FIELD', 'VALUE'], [
    ['name', v.name], ['pool', v.pool], ['format', v.format], ['size', formatBytes(v.virtualSizeBytes)], ['used', formatBytes(v.actualSizeBytes)],
    ['path', v.path], ['base', v.base ? `${v.base.pool}/${v.base.name}` : null], ['clones', v.clones.map((c) => c.name).join(', ') || null],
    ['attached to', v.attachedTo.map((a) => `${a.vmId} (${a.role})`).join(', ') || null],
  ]);
}

/** A progress meter on stderr (terminal only) for byte streams. */
function meter(total: number, label: string, quiet: boolean): Transform {
  let done = 0;
  let last = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      done += chunk.length;
      if (!quiet && process.stderr.isTTY && (Date.now() - last > 100 || done === total)) {
        last = Date.now();
        process.stderr.write(`\r${progressBar(total > 0 ? done / total : 0)} ${label} ${formatBytes(done)}`);
      }
      cb(null, chunk);
    },
    flush(cb) {
      if (!quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      cb();
    },
  });
}

function send(api: ApiClient, method: string, path: string, headers: Record<string, string>): { req: ReturnType<typeof httpRequest>; res: Promise<IncomingMessage> } {
  const url = new URL(path, api.conn.server);
  const tls = url.protocol === 'https:';
  const all: Record<string, string> = { ...headers };
  if (api.conn.token) all['authorization'] = `Bearer ${api.conn.token}`;
  let resolveRes!: (r: IncomingMessage) => void;
  let rejectRes!: (e: Error) => void;
  const res = new Promise<IncomingMessage>((a, b) => ((resolveRes = a), (rejectRes = b)));
  const req = (tls ? httpsRequest : httpRequest)(
    url,
    { method, headers: all, ...(tls ? { rejectUnauthorized: !api.conn.insecure, ...(api.conn.ca ? { ca: readFileSync(api.conn.ca) } : {}) } : {}) },
    resolveRes,
  );
  req.on('error', (e) => rejectRes(new CliError(`cannot reach the daemon at ${api.conn.server}: ${e.message}`)));
  return { req, res };
}

async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if ((res.statusCode ?? 0) >= 400) {
    const err = (parsed as { error?: { code: string; message: string } } | undefined)?.error;
    throw new CliError(err ? `${err.message} [${res.statusCode} ${err.code}]` : `HTTP ${res.statusCode}`, res.statusCode);
  }
  return parsed;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('volumes (disks) in storage pools');
  const poolOpt = (c: Command) => c.option('--pool <pool>', 'storage pool', 'local');

  withConnectionOptions(poolOpt(volume.command('list').description('list volumes'))).action(async (o: { pool: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { volumes } = await api.call<{ volumes: Volume[] }>('GET', `/api/v1/pools/${encodeURIComponent(o.pool)}/volumes`);
    if (json) return printJson(volumes);
    printTable(
      ['NAME', 'FORMAT', 'SIZE', 'USED', 'BASE', 'CLONES', 'ATTACHED'],
      volumes.map((v) => [v.name, v.format, formatBytes(v.virtualSizeBytes), formatBytes(v.actualSizeBytes), v.base?.name, v.clones.length, v.attachedTo.map((a) => a.vmId.slice(0, 8)).join(',') || null]),
    );
  });

  withConnectionOptions(poolOpt(volume.command('show <name>').description('one volume'))).action(async (name: string, o: { pool: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const v = await api.call<Volume>('GET', vol(o.pool, name));
    return json ? printJson(v) : printVolume(v);
  });

  withConnectionOptions(
    poolOpt(volume.command('create <name>').description('create an empty volume').requiredOption('--size <size>', 'e.g. 10G').option('--format <format>', 'qcow2 or raw', 'qcow2')),
  ).action(async (name: string, o: { pool: string; size: string; format: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const v = await api.call<Volume>('POST', `/api/v1/pools/${encodeURIComponent(o.pool)}/volumes`, { name, format: o.format, sizeBytes: parseSize(o.size) });
    return json ? printJson(v) : printVolume(v);
  });

  withConnectionOptions(poolOpt(volume.command('resize <name>').description('grow a volume (shrinking is refused)').requiredOption('--size <size>', 'new size, e.g. 20G'))).action(
    async (name: string, o: { pool: string; size: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const v = await api.call<Volume>('POST', vol(o.pool, name, '/resize'), { sizeBytes: parseSize(o.size) });
      return json ? printJson(v) : printVolume(v);
    },
  );

  withConnectionOptions(poolOpt(volume.command('delete <name>').description('delete a volume'))).action(async (name: string, o: { pool: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    await api.call('DELETE', vol(o.pool, name));
    return json ? printJson({ deleted: name }) : void process.stdout.write(`volume ${name} deleted\n`);
  });

  withConnectionOptions(
    poolOpt(volume.command('clone <source> <target>').description('full clone, or --linked (qcow2 overlay; the source becomes a protected base)').option('--linked', 'linked clone').option('--format <format>', 'format of a full clone')),
  ).action(async (source: string, target: string, o: { pool: string; linked?: boolean; format?: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const v = await api.call<Volume>('POST', vol(o.pool, source, '/clone'), { target, linked: o.linked === true, ...(o.format ? { format: o.format } : {}) });
    return json ? printJson(v) : printVolume(v);
  });

  withConnectionOptions(poolOpt(volume.command('check <name>').description('qemu-img check'))).action(async (name: string, o: { pool: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const r = await api.call<{ ok: boolean; errors: number; leaks: number; corruptions: number }>('GET', vol(o.pool, name, '/check'));
    if (json) return printJson(r);
    process.stdout.write(r.ok ? `${name}: no errors\n` : `${name}: ${r.errors} errors, ${r.corruptions} corruptions, ${r.leaks} leaks\n`);
    if (!r.ok) process.exitCode = 1;
  });

  withConnectionOptions(
    poolOpt(volume.command('upload <file>').description('upload a disk image as a new volume (streamed, SHA-256 verified)').requiredOption('--name <name>', 'volume name').option('--format <format>', 'raw or qcow2', 'raw')),
  ).action(async (file: string, o: { pool: string; name: string; format: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const size = statSync(file).size;
    const sha256 = await sha256File(file);
    const { req, res } = send(api, 'PUT', `${vol(o.pool, o.name, '/content')}?format=${encodeURIComponent(o.format)}&sha256=${sha256}`, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    });
    const t0 = Date.now();
    await pipeline(createReadStream(file), meter(size, `upload ${o.name}`, json), req);
    const result = (await readJson(await res)) as { volume: Volume; bytes: number; sha256: string };
    if (json) return printJson(result);
    const s = (Date.now() - t0) / 1000;
    process.stdout.write(`uploaded ${formatBytes(result.bytes)} to ${o.pool}/${o.name} in ${s.toFixed(1)} s (sha256 ${result.sha256})\n`);
  });

  withConnectionOptions(poolOpt(volume.command('download <name> <file>').description('download a volume (linked clones come flattened)'))).action(
    async (name: string, file: string, o: { pool: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const { req, res } = send(api, 'GET', vol(o.pool, name, '/content'), {});
      req.end();
      const r = await res;
      if ((r.statusCode ?? 0) >= 400) await readJson(r);
      const total = Number(r.headers['content-length'] ?? 0);
      const tmp = `${file}.part`;
      try {
        await pipeline(r, meter(total, `download ${name}`, json), createWriteStream(tmp));
        await fs.rename(tmp, file);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
      if (json) return printJson({ file, bytes: total, format: r.headers['x-volume-format'] });
      process.stdout.write(`saved ${formatBytes(total)} to ${file} (${String(r.headers['x-volume-format'])})\n`);
    },
  );

  const snapshot = volume.command('snapshot').description('internal qcow2 snapshots of a volume');
  withConnectionOptions(poolOpt(snapshot.command('list <volume>'))).action(async (name: string, o: { pool: string }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { snapshots } = await api.call<{ snapshots: Array<{ name: string; dateSec: number }> }>('GET', vol(o.pool, name, '/snapshots'));
    if (json) return printJson(snapshots);
    printTable(['SNAPSHOT', 'TAKEN'], snapshots.map((s) => [s.name, new Date(s.dateSec * 1000).toISOString()]));
  });
  for (const [verb, method, suffix, what] of [
    ['create', 'POST', '', 'taken'],
    ['restore', 'POST', '/restore', 'restored'],
    ['delete', 'DELETE', '', 'deleted'],
  ] as const) {
    withConnectionOptions(poolOpt(snapshot.command(`${verb} <volume> <snapshot>`))).action(async (name: string, snap: string, o: { pool: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const r = verb === 'create'
        ? await api.call('POST', vol(o.pool, name, '/snapshots'), { name: snap })
        : await api.call(method, vol(o.pool, name, `/snapshots/${encodeURIComponent(snap)}${suffix}`));
      return json ? printJson(r ?? { [what]: snap }) : void process.stdout.write(`snapshot ${snap} of ${name} ${what}\n`);
    });
  }
}
