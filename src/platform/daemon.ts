/**
 * The node daemon: opens the data directory, the store and the engines,
 * re-attaches to VMs that outlived the previous daemon, and serves the API.
 *
 * Data directory layout:
 *   typevisor.db        SQLite store (WAL)
 *   tls/                self-signed certificate (when listening beyond loopback)
 *   vms/<id>/           per-VM run directory: engine sockets, pid file, launch.json, console-history.log
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { AuthStore } from './auth/auth-store.js';
import type { PlatformContext } from './context.js';
import { EventBus } from './events/event-bus.js';
import { NodeMonitor } from './node/node-monitor.js';
import { buildServer, type RoutePlugin } from './server.js';
import { openDatabase, type Db } from './store/database.js';
import { TaskManager } from './tasks/task-manager.js';
import { ensureSelfSignedCert, isLoopback } from './tls.js';
import type { EngineSet } from './vms/engine-set.js';
import { DirectResources, type VmResources } from './vms/resources.js';
import { VmManager } from './vms/vm-manager.js';
import { loadEngines } from './engine-loader.js';
import { demoBoot } from './demo.js';

export const DEFAULT_DATA_DIR = '/var/lib/typevisor';
export const DEFAULT_LISTEN = '127.0.0.1:8006';
export const VERSION = '0.1.0';

export interface DaemonOptions {
  dataDir: string;
  /** host:port; port 0 picks a free one. */
  listen: string;
  log?: Logger;
  /** Becomes the admin token at the first start (TYPEVISOR_BOOTSTRAP_TOKEN). */
  bootstrapToken?: string | undefined;
  engines?: EngineSet;
  resources?: VmResources;
  plugins?: RoutePlugin[];
  /**
   * Parts of the platform opened on the daemon's database before the VM manager (storage, networks,
   * images): each may supply the VmResources hook and route plugins, and is closed with the daemon.
   */
  extensions?: DaemonExtension[];
  /** Define the demo VM at the first start (default true). */
  demo?: boolean;
  /** Where the first-start banner (URL, token) goes; default stdout. */
  print?: (line: string) => void;
}

export type DaemonExtension = (base: { db: Db; dataDir: string; log: Logger }) => Promise<{
  resources?: VmResources;
  plugins?: RoutePlugin[];
  close?: () => Promise<void>;
}>;

export interface Daemon {
  app: FastifyInstance;
  ctx: PlatformContext;
  url: string;
  /** Stop serving and detach from the VMs (they keep running). */
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`--listen must be ADDRESS:PORT (e.g. 127.0.0.1:8006), got ${JSON.stringify(listen)}`);
  return { host: (m[1] ?? m[2])!, port };
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const print = o.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const log = o.log ?? pino({ level: process.env['TYPEVISOR_LOG_LEVEL'] ?? 'info' }, pino.destination(2));
  const { host, port } = parseListen(o.listen);
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(join(o.dataDir, 'typevisor.db'));
  const auth = new AuthStore(db);
  const events = new EventBus();
  const tasks = new TaskManager(db, events);
  const engines = o.engines ?? loadEngines({ dataDir: o.dataDir, log });
  const extensions: Awaited<ReturnType<DaemonExtension>>[] = [];
  for (const open of o.extensions ?? []) extensions.push(await open({ db, dataDir: o.dataDir, log }));
  const resources = o.resources ?? extensions.find((e) => e.resources)?.resources ?? new DirectResources();
  const vms = new VmManager({ db, dataDir: o.dataDir, events, tasks, engines, resources, log });
  const node = new NodeMonitor(o.dataDir);
  const ctx: PlatformContext = { dataDir: o.dataDir, db, log, auth, events, tasks, engines, resources, vms, node, version: VERSION };

  let firstStartToken: string | null = null;
  if (!auth.hasAnyToken()) {
    const bootstrap = o.bootstrapToken && o.bootstrapToken.length > 0 ? o.bootstrapToken : undefined;
    if (bootstrap !== undefined && bootstrap.length < 16) throw new Error('TYPEVISOR_BOOTSTRAP_TOKEN must be at least 16 characters');
    firstStartToken = auth.createToken('admin', 'admin', bootstrap ? { secret: bootstrap } : {}).secret;
  }
  const firstStart = db.prepare("SELECT value FROM settings WHERE key = 'initialized'").get() === undefined;

  await vms.recover();
  vms.startSampling();
  node.start();

  const tls = isLoopback(host) ? null : ensureSelfSignedCert(o.dataDir, host);
  const plugins = [...(o.plugins ?? []), ...extensions.flatMap((e) => e.plugins ?? [])];
  const app = await buildServer(ctx, { plugins, https: tls });
  const address = await app.listen({ host, port });
  const url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '[::1]');

  if (firstStart) {
    if (o.demo !== false) await defineDemo(ctx).catch((e) => log.warn({ err: String(e) }, 'demo VM not defined'));
    db.prepare("INSERT INTO settings (key, value) VALUES ('initialized', ?)").run(new Date().toISOString());
  }
  const def = await engines.defaultEngine();
  log.info({ url, dataDir: o.dataDir, defaultEngine: def.name, reason: def.reason }, 'typevisor daemon listening');
  print(`typevisor: listening on ${url}${tls ? ` (self-signed certificate: ${tls.certPath})` : ''}`);
  print(`typevisor: default engine ${def.name}: ${def.reason}`);
  if (firstStartToken !== null) {
    print(`typevisor: admin API token (shown once, store it now): ${firstStartToken}`);
    print(`typevisor: try: TYPEVISOR_SERVER=${url} TYPEVISOR_TOKEN=<token> typevisor vm list`);
  }

  return {
    app,
    ctx,
    url,
    async close() {
      node.stop();
      vms.detachAll();
      await app.close();
      for (const e of extensions) await e.close?.();
      db.close();
    },
  };
}

async function defineDemo(ctx: PlatformContext): Promise<void> {
  const boot = await demoBoot();
  if (!boot) {
    ctx.log.info('demo VM not defined: Debian kernels not fetched (run scripts/setup.sh)');
    return;
  }
  await ctx.vms.create({ name: 'demo', vcpus: 1, memoryMiB: 256, boot });
}
