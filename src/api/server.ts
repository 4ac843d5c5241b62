/**
 * The per-VM control API: HTTP/1.1 over a Unix socket (fastify), JSON bodies.
 * Requests become typed Vmm actions; validation failures are 400 and actions
 * refused in the current state are 409, each with a message saying why.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { existsSync, unlinkSync } from 'node:fs';
import { ConfigError } from '../vmm/config.js';
import { StateError, type Vmm } from '../vmm/vmm.js';
import { SnapshotFormatError } from '../vmm/snapshot/format.js';
import { ROUTES } from './routes.js';
import { debug, tracing } from '../vmm/startup-trace.js';

type Body = Record<string, unknown>;

function fault(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ fault_message: message });
}

export function buildApi(vmm: Vmm): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Refuse what the schema does not describe instead of silently dropping or coercing it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof StateError) return fault(reply, 409, err.message);
    if (err instanceof ConfigError || err instanceof SnapshotFormatError) return fault(reply, 400, err.message);
    const e = err as { validation?: unknown; statusCode?: number; message: string };
    if (e.validation) return fault(reply, 400, `invalid request: ${e.message}`);
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return fault(reply, e.statusCode, e.message);
    return fault(reply, 500, `VMM error: ${e.message}`);
  });
  if (tracing) {
    // TYPEVISOR_DEBUG: when a request arrived and when its answer went out, on the start-up trace's clock.
    app.addHook('onRequest', async (req) => debug(`API: ${req.method} ${req.url} received`));
    app.addHook('onResponse', async (req, reply) => debug(`API: ${req.method} ${req.url} answered ${reply.statusCode}`));
  }
  app.setNotFoundHandler((req, reply) => fault(reply, 404, `no route ${req.method} ${req.url}`));

  const handlers: Record<string, (body: Body, params: Record<string, string>) => Promise<unknown> | unknown> = {
    'GET /': () => vmm.info(),
    'GET /vm/info': () => ({
      id: vmm.id,
      state: { 'not-started': 'Not started', running: 'Running', paused: 'Paused', stopped: 'Stopped' }[vmm.state],
      vmm_version: vmm.info().version,
    }),
    'GET /vm/config': () => vmm.info().config,
    'GET /vm/metrics': async () => {
      const devices = await vmm.deviceMetrics();
      const block: Record<string, { read_bytes: number; write_bytes: number; requests: number }> = {};
      const net: Record<string, { rx_bytes: number; tx_bytes: number; packets: number }> = {};
      let d = 0;
      let n = 0;
      for (const { name, metrics } of devices) {
        if (name === 'block') block[`d${d++}`] = { read_bytes: metrics['bytesToGuest'] ?? 0, write_bytes: metrics['bytesFromGuest'] ?? 0, requests: metrics['requests'] ?? 0 };
        else if (name === 'net') net[`n${n++}`] = { rx_bytes: metrics['bytesToGuest'] ?? 0, tx_bytes: metrics['bytesFromGuest'] ?? 0, packets: metrics['requests'] ?? 0 };
      }
      return { ...vmm.metrics(), block, net, devices };
    },
    'GET /machine-config': () => {
      const c = vmm.info().config;
      return { vcpu_count: c.vcpus, mem_size_mib: c.memoryMiB };
    },
    'PUT /machine-config': (b) => vmm.setMachineConfig({ vcpus: b['vcpu_count'] as number, memoryMiB: b['mem_size_mib'] as number }),
    'PUT /boot-source': (b) =>
      vmm.setBootSource({
        kernelPath: b['kernel_image_path'] as string,
        initrdPath: b['initrd_path'] as string | undefined,
        cmdline: b['boot_args'] as string | undefined,
      }),
    'PUT /drives/:drive_id': (b, p) => {
      if (b['drive_id'] !== p['drive_id']) throw new ConfigError('drive_id', `drive_id in the body (${String(b['drive_id'])}) differs from the path (${p['drive_id']})`);
      vmm.setDrive(p['drive_id']!, {
        path: b['path_on_host'] as string,
        readonly: b['is_read_only'] as boolean,
        format: b['format'] as 'raw' | 'qcow2' | undefined,
        serial: b['serial'] as string | undefined,
      });
    },
    'PUT /network-interfaces/:iface_id': (b, p) => {
      if (b['iface_id'] !== p['iface_id']) throw new ConfigError('iface_id', `iface_id in the body (${String(b['iface_id'])}) differs from the path (${p['iface_id']})`);
      vmm.setNetworkInterface(p['iface_id']!, { tap: b['host_dev_name'] as string, mac: b['guest_mac'] as string | undefined });
    },
    'PUT /vsock': (b) => vmm.setVsock({ cid: b['guest_cid'] as number, uds: b['uds_path'] as string }),
    'PUT /actions': async (b) => {
      const action = b['action_type'];
      if (action === 'InstanceStart') await vmm.start();
      else if (action === 'SendPowerButton' || action === 'PowerButton') vmm.powerButton();
      else if (action === 'Reset') await vmm.reset();
      else vmm.ctrlAltDel();
    },
    'PATCH /vm': async (b) => {
      if (b['state'] === 'Paused') await vmm.pause();
      else vmm.resume();
    },
    'PUT /balloon': async (b) => {
      if (vmm.state === 'not-started') return vmm.enableBalloon();
      const info = await vmm.balloon(b['amount_mib'] as number);
      return { amount_mib: info.targetMiB, actual_mib: info.actualMiB };
    },
    'GET /balloon': async () => {
      const info = await vmm.balloon();
      return { amount_mib: info.targetMiB, actual_mib: info.actualMiB };
    },
    'GET /balloon/statistics': async () => {
      const info = await vmm.balloon();
      return { target_mib: info.targetMiB, actual_mib: info.actualMiB, statistics: info.statistics, received_at: info.statisticsAt };
    },
    'GET /metrics': () => vmm.metrics(),
    'PUT /snapshot/create': (b) => vmm.snapshot(b['snapshot_path'] as string),
    'PUT /snapshot/load': (b) => vmm.loadSnapshot(b['snapshot_path'] as string, b['resume_vm'] === true),
  };

  for (const r of ROUTES) {
    const handler = handlers[`${r.method} ${r.url}`];
    if (!handler) throw new Error(`route ${r.method} ${r.url} has no handler`);
    app.route({
      method: r.method,
      url: r.url,
      schema: { ...(r.body ? { body: r.body } : {}), ...(r.params ? { params: r.params } : {}) },
      handler: async (req, reply) => {
        const result = await handler((req.body ?? {}) as Body, (req.params ?? {}) as Record<string, string>);
        if (result === undefined) return reply.code(204).send();
        return reply.code(200).send(result);
      },
    });
  }
  return app;
}

/** Serves the API on a Unix socket; a stale socket file from a dead VMM is replaced. */
export async function serveApi(vmm: Vmm, socketPath: string): Promise<FastifyInstance> {
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const app = buildApi(vmm);
  await app.listen({ path: socketPath });
  return app;
}

/**
 * Sends the API a few requests that change nothing (an info read, and a snapshot load and an action that fail
 * validation), so that the first real request does not pay for compiling fastify's request path, the validators and
 * the error handler: under nested KVM that was about half a second of a snapshot load (issue 4). For `typevisor vmm`,
 * which waits idle for its first request anyway.
 */
export async function warmUpApi(app: FastifyInstance): Promise<void> {
  const requests = [
    { method: 'GET', url: '/vm/info' },
    { method: 'PUT', url: '/snapshot/load', payload: { snapshot_path: 7 } },
    { method: 'PUT', url: '/actions', payload: { action_type: 'none' } },
  ] as const;
  for (const r of requests) await app.inject(r).catch(() => undefined);
  debug('API warmed up');
}
