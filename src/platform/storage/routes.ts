/**
 * /api/v1/pools, /api/v1/pools/{pool}/volumes (with streamed upload and
 * download) and /api/v1/vms/{id}/disk-snapshots.
 *
 * Uploads: `PUT .../volumes/{volume}/content?format=&sha256=` with an
 * application/octet-stream body. The body reaches the pool as the raw request
 * stream (no buffering), progress is a task (`volume.upload`), and the volume
 * appears under its name only once complete and verified.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { PlatformContext } from '../context.js';
import { addRoute, errors, refParams, taskSchema } from '../http/route.js';
import type { JsonSchema } from '../vms/vm-model.js';
import { RESOURCE_NAME_PATTERN, StorageError } from './names.js';
import type { StorageManager } from './manager.js';

const NAME: JsonSchema = { type: 'string', pattern: RESOURCE_NAME_PATTERN.source, maxLength: 128 };

export const poolSchema: JsonSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, kind: { type: 'string' }, path: { type: 'string' }, capacityBytes: { type: 'number' }, freeBytes: { type: 'number' } },
};
const ref = { type: 'object', properties: { pool: { type: 'string' }, name: { type: 'string' } } };
export const volumeSchema: JsonSchema = {
  type: 'object',
  properties: {
    pool: { type: 'string' },
    name: { type: 'string' },
    format: { type: 'string', enum: ['raw', 'qcow2'] },
    virtualSizeBytes: { type: 'number' },
    actualSizeBytes: { type: 'number' },
    path: { type: 'string' },
    backingPath: { type: 'string' },
    base: ref,
    clones: { type: 'array', items: ref },
    attachedTo: { type: 'array', items: { type: 'object', properties: { vmId: { type: 'string' }, role: { type: 'string' } } } },
  },
};
const snapshotSchema: JsonSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, vmStateSize: { type: 'number' }, dateSec: { type: 'number' } },
};

type PoolParams = { Params: { pool: string } };
type VolParams = { Params: { pool: string; volume: string } };
type SnapParams = { Params: { pool: string; volume: string; snapshot: string } };

const poolParams: JsonSchema = { type: 'object', additionalProperties: false, required: ['pool'], properties: { pool: NAME } };
const volParams: JsonSchema = { type: 'object', additionalProperties: false, required: ['pool', 'volume'], properties: { pool: NAME, volume: NAME } };
const snapParams: JsonSchema = {
  type: 'object', additionalProperties: false, required: ['pool', 'volume', 'snapshot'], properties: { pool: NAME, volume: NAME, snapshot: NAME },
};

export function registerStorageRoutes(app: FastifyInstance, ctx: PlatformContext, storage: StorageManager): void {
  const tags = ['storage'];

  addRoute(app, {
    method: 'GET', url: '/api/v1/pools', access: 'viewer',
    schema: { summary: 'List storage pools', tags, response: { 200: { type: 'object', properties: { pools: { type: 'array', items: poolSchema } } }, ...errors() } },
    handler: async () => ({ pools: await storage.listPools() }),
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools', access: 'admin',
    schema: {
      summary: 'Add a directory pool (the directory must exist)', tags,
      body: { type: 'object', additionalProperties: false, required: ['name', 'path'], properties: { name: NAME, kind: { type: 'string', enum: ['dir'] }, path: { type: 'string', minLength: 1, maxLength: 4096 } } },
      response: { 201: poolSchema, ...errors(409) },
    },
    handler: async (req, reply) => {
      const b = req.body as { name: string; kind?: string; path: string };
      return reply.code(201).send(await storage.createPool(b.name, b.kind, b.path));
    },
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool', access: 'viewer',
    schema: { summary: 'One pool', tags, params: poolParams, response: { 200: poolSchema, ...errors(404) } },
    handler: async (req) => storage.pool((req as FastifyRequest<PoolParams>).params.pool).info(),
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/pools/:pool', access: 'admin',
    schema: { summary: 'Forget an empty pool (files stay)', tags, params: poolParams, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      await storage.deletePool((req as FastifyRequest<PoolParams>).params.pool);
      return reply.code(204).send();
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool/volumes', access: 'viewer',
    schema: { summary: 'List volumes', tags, params: poolParams, response: { 200: { type: 'object', properties: { volumes: { type: 'array', items: volumeSchema } } }, ...errors(404) } },
    handler: async (req) => ({ volumes: await storage.listVolumes((req as FastifyRequest<PoolParams>).params.pool) }),
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools/:pool/volumes', access: 'operator',
    schema: {
      summary: 'Create an empty volume', tags, params: poolParams,
      body: { type: 'object', additionalProperties: false, required: ['name', 'sizeBytes'], properties: { name: NAME, format: { type: 'string', enum: ['raw', 'qcow2'] }, sizeBytes: { type: 'integer' } } },
      response: { 201: volumeSchema, ...errors(404, 409) },
    },
    handler: async (req, reply) => {
      const b = req.body as { name: string; format?: string; sizeBytes: number };
      return reply.code(201).send(await storage.createVolume((req as FastifyRequest<PoolParams>).params.pool, b.name, b.format, b.sizeBytes));
    },
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool/volumes/:volume', access: 'viewer',
    schema: { summary: 'One volume', tags, params: volParams, response: { 200: volumeSchema, ...errors(404) } },
    handler: async (req) => {
      const p = (req as FastifyRequest<VolParams>).params;
      return storage.volume(p.pool, p.volume);
    },
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/pools/:pool/volumes/:volume', access: 'operator',
    schema: { summary: 'Delete a volume (refused while a VM uses it or linked clones depend on it)', tags, params: volParams, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<VolParams>).params;
      await storage.deleteVolume(p.pool, p.volume);
      return reply.code(204).send();
    },
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools/:pool/volumes/:volume/resize', access: 'operator',
    schema: {
      summary: 'Grow a volume (shrinking is refused)', tags, params: volParams,
      body: { type: 'object', additionalProperties: false, required: ['sizeBytes'], properties: { sizeBytes: { type: 'integer' } } },
      response: { 200: volumeSchema, ...errors(404, 409) },
    },
    handler: async (req) => {
      const p = (req as FastifyRequest<VolParams>).params;
      const active = (await storage.volume(p.pool, p.volume)).attachedTo.filter((a) => storage.isVmActive(a.vmId));
      if (active.length > 0) throw new StorageError(409, 'conflict', `volume ${p.volume} is attached to running VM ${active[0]?.vmId}; stop it first`);
      return storage.resizeVolume(p.pool, p.volume, (req.body as { sizeBytes: number }).sizeBytes);
    },
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools/:pool/volumes/:volume/clone', access: 'operator',
    schema: {
      summary: 'Full clone, or linked clone (qcow2 overlay; the source becomes a protected base)', tags, params: volParams,
      body: { type: 'object', additionalProperties: false, required: ['target'], properties: { target: NAME, linked: { type: 'boolean' }, format: { type: 'string', enum: ['raw', 'qcow2'] } } },
      response: { 201: volumeSchema, ...errors(404, 409) },
    },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<VolParams>).params;
      const b = req.body as { target: string; linked?: boolean; format?: string };
      return reply.code(201).send(await storage.cloneVolume(p.pool, p.volume, b.target, { linked: b.linked === true, format: b.format }));
    },
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool/volumes/:volume/check', access: 'viewer',
    schema: {
      summary: 'qemu-img check', tags, params: volParams,
      response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, errors: { type: 'number' }, leaks: { type: 'number' }, corruptions: { type: 'number' } } }, ...errors(404) },
    },
    handler: async (req) => {
      const p = (req as FastifyRequest<VolParams>).params;
      return storage.checkVolume(p.pool, p.volume);
    },
  });

  // ---- content: streamed upload and download -------------------------------
  app.register(async (scope) => {
    // The raw request stream is the body: nothing is buffered, the pool pipes it to a temporary file.
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    addRoute(scope, {
      method: 'PUT', url: '/api/v1/pools/:pool/volumes/:volume/content', access: 'operator',
      schema: {
        summary: 'Upload a new volume (application/octet-stream body; streamed, SHA-256 verified, progress as a task)', tags, params: volParams,
        querystring: {
          type: 'object', additionalProperties: false,
          properties: { format: { type: 'string', enum: ['raw', 'qcow2'] }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        },
        response: { 201: { type: 'object', properties: { volume: volumeSchema, bytes: { type: 'number' }, sha256: { type: 'string' }, task: taskSchema } }, ...errors(404, 409, 415) },
      },
      handler: async (req, reply) => {
        const p = (req as FastifyRequest<VolParams>).params;
        const q = req.query as { format?: 'raw' | 'qcow2'; sha256?: string };
        const body = req.body as Readable | undefined;
        if (!body || typeof (body as Readable).pipe !== 'function') {
          throw new StorageError(415, 'unsupported_media_type', 'send the volume as Content-Type: application/octet-stream');
        }
        const lengthHeader = req.headers['content-length'];
        const expectedBytes = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
        let result: Awaited<ReturnType<StorageManager['importVolume']>> | undefined;
        let failure: unknown;
        let finish!: () => void;
        const finished = new Promise<void>((r) => (finish = r));
        const task = ctx.tasks.run('volume.upload', `${p.pool}/${p.volume}`, async (t) => {
          try {
            t.log(`receiving ${expectedBytes ?? 'an unknown number of'} bytes into ${p.pool}/${p.volume} (${q.format ?? 'raw'})`);
            let lastReported = 0;
            result = await storage.importVolume(p.pool, p.volume, body, {
              format: q.format ?? 'raw',
              sha256: q.sha256,
              expectedBytes,
              onProgress: (n) => {
                if (expectedBytes && n - lastReported >= expectedBytes / 100) {
                  lastReported = n;
                  t.progress(Math.min(0.99, n / expectedBytes));
                }
              },
            });
            t.log(`stored ${result.bytes} bytes, sha256 ${result.sha256}`);
          } catch (err) {
            failure = err;
            throw err;
          } finally {
            finish();
          }
        });
        await finished;
        if (failure) {
          // Drain nothing more: the client is told now; a still-open upload is cut by closing the connection.
          reply.header('connection', 'close');
          throw failure;
        }
        // The task manager marks the task succeeded right after its work resolves: let it, then report it.
        await new Promise((r) => setImmediate(r));
        return reply.code(201).send({ ...result, task: ctx.tasks.get(task.id) });
      },
    });
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool/volumes/:volume/content', access: 'viewer',
    schema: {
      summary: 'Download a volume (streamed; linked clones are flattened)', tags, params: volParams,
      response: { 200: { contentType: 'application/octet-stream', type: 'string', format: 'binary' }, ...errors(404) },
    },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<VolParams>).params;
      const { stream, sizeBytes, format } = await storage.exportVolume(p.pool, p.volume);
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', String(sizeBytes));
      reply.header('content-disposition', `attachment; filename="${p.volume}.${format}"`);
      reply.header('x-volume-format', format);
      return reply.send(stream);
    },
  });

  // ---- per-volume internal snapshots ---------------------------------------
  const requireIdle = async (pool: string, volume: string) => {
    const active = (await storage.volume(pool, volume)).attachedTo.filter((a) => storage.isVmActive(a.vmId));
    if (active.length > 0) throw new StorageError(409, 'conflict', `volume ${volume} is attached to running VM ${active[0]?.vmId}; disk snapshots need it stopped`);
  };
  addRoute(app, {
    method: 'GET', url: '/api/v1/pools/:pool/volumes/:volume/snapshots', access: 'viewer',
    schema: { summary: 'Internal (qcow2) snapshots of a volume', tags, params: volParams, response: { 200: { type: 'object', properties: { snapshots: { type: 'array', items: snapshotSchema } } }, ...errors(404) } },
    handler: async (req) => {
      const p = (req as FastifyRequest<VolParams>).params;
      await storage.volume(p.pool, p.volume);
      return { snapshots: await storage.pool(p.pool).snapshots(p.volume) };
    },
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools/:pool/volumes/:volume/snapshots', access: 'operator',
    schema: {
      summary: 'Take an internal snapshot', tags, params: volParams,
      body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NAME } },
      response: { 201: { type: 'object', properties: { snapshots: { type: 'array', items: snapshotSchema } } }, ...errors(404, 409) },
    },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<VolParams>).params;
      await requireIdle(p.pool, p.volume);
      await storage.pool(p.pool).snapshotCreate(p.volume, (req.body as { name: string }).name);
      return reply.code(201).send({ snapshots: await storage.pool(p.pool).snapshots(p.volume) });
    },
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/pools/:pool/volumes/:volume/snapshots/:snapshot/restore', access: 'operator',
    schema: { summary: 'Revert a volume to a snapshot', tags, params: snapParams, response: { 200: { type: 'object', properties: { restored: { type: 'string' } } }, ...errors(404, 409) } },
    handler: async (req) => {
      const p = (req as FastifyRequest<SnapParams>).params;
      await requireIdle(p.pool, p.volume);
      await storage.pool(p.pool).snapshotRestore(p.volume, p.snapshot);
      return { restored: p.snapshot };
    },
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/pools/:pool/volumes/:volume/snapshots/:snapshot', access: 'operator',
    schema: { summary: 'Delete a snapshot', tags, params: snapParams, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<SnapParams>).params;
      await requireIdle(p.pool, p.volume);
      await storage.pool(p.pool).snapshotDelete(p.volume, p.snapshot);
      return reply.code(204).send();
    },
  });

  // ---- disk snapshots of a VM's volumes (all at once, VM stopped) ----------
  type VmSnap = { Params: { id: string; snapshot: string } };
  const vmSnapParams: JsonSchema = { type: 'object', additionalProperties: false, required: ['id', 'snapshot'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 }, snapshot: NAME } };
  const vmSnapList = { type: 'object', properties: { snapshots: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, dateSec: { type: 'number' }, volumes: { type: 'array', items: { type: 'string' } } } } } } };
  const vmId = (ref: string) => ctx.vms.get(ref).id;
  addRoute(app, {
    method: 'GET', url: '/api/v1/vms/:id/disk-snapshots', access: 'viewer',
    schema: { summary: 'Disk snapshots of a VM (qcow2 internal snapshots of all its volumes)', tags: ['vms', 'storage'], params: refParams, response: { 200: vmSnapList, ...errors(404) } },
    handler: async (req) => ({ snapshots: await storage.vmSnapshots(vmId((req as FastifyRequest<{ Params: { id: string } }>).params.id)) }),
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/vms/:id/disk-snapshots', access: 'operator',
    schema: {
      summary: 'Snapshot every volume of a stopped VM', tags: ['vms', 'storage'], params: refParams,
      body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NAME } },
      response: { 201: vmSnapList, ...errors(404, 409) },
    },
    handler: async (req, reply) => {
      const id = vmId((req as FastifyRequest<{ Params: { id: string } }>).params.id);
      await storage.vmSnapshotCreate(id, (req.body as { name: string }).name);
      return reply.code(201).send({ snapshots: await storage.vmSnapshots(id) });
    },
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/vms/:id/disk-snapshots/:snapshot/restore', access: 'operator',
    schema: { summary: 'Revert a stopped VM\'s volumes to a snapshot', tags: ['vms', 'storage'], params: vmSnapParams, response: { 200: { type: 'object', properties: { restored: { type: 'string' } } }, ...errors(404, 409) } },
    handler: async (req) => {
      const p = (req as FastifyRequest<VmSnap>).params;
      await storage.vmSnapshotRestore(vmId(p.id), p.snapshot);
      return { restored: p.snapshot };
    },
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/vms/:id/disk-snapshots/:snapshot', access: 'operator',
    schema: { summary: 'Delete a VM disk snapshot', tags: ['vms', 'storage'], params: vmSnapParams, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      const p = (req as FastifyRequest<VmSnap>).params;
      await storage.vmSnapshotDelete(vmId(p.id), p.snapshot);
      return reply.code(204).send();
    },
  });
}
