/** /api/v1/vms: definitions, lifecycle (202 + task), console log, metrics. */
import type { FastifyInstance } from 'fastify';
import type { PlatformContext } from '../context.js';
import { addRoute, emptyObject, errors, refParams, taskSchema } from '../http/route.js';
import { VM_STATES, vmDefinitionProperties, type JsonSchema, type VmCreateBody, type VmUpdateBody } from '../vms/vm-model.js';

export function vmSchema(ctx: PlatformContext): JsonSchema {
  const props = vmDefinitionProperties(ctx.resources.diskSchema, ctx.resources.nicSchema, ctx.resources.extraProperties);
  return {
    type: 'object',
    additionalProperties: true,
    required: ['id', 'name', 'engine', 'engineReason', 'state', 'stateReason'],
    properties: {
      ...props,
      id: { type: 'string' },
      engineReason: { type: 'string', description: 'why this engine runs the VM' },
      state: { type: 'string', enum: VM_STATES },
      stateReason: { type: 'string' },
      boot: { anyOf: [props['boot']!, { type: 'null' }] },
      pid: { type: ['integer', 'null'], description: 'engine process id while running' },
      createdAt: { type: 'string' },
      updatedAt: { type: 'string' },
    },
  };
}

const sampleSchema: JsonSchema = {
  type: 'object',
  properties: {
    time: { type: 'number' },
    cpuPercent: { type: 'number' },
    memoryBytes: { type: 'number' },
    diskReadBytes: { type: 'number' },
    diskWriteBytes: { type: 'number' },
    netRxBytes: { type: 'number' },
    netTxBytes: { type: 'number' },
  },
};

type Ref = { Params: { id: string } };

export function registerVmRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  const vm = vmSchema(ctx);
  const props = vmDefinitionProperties(ctx.resources.diskSchema, ctx.resources.nicSchema, ctx.resources.extraProperties);
  const taskReply = { type: 'object', required: ['task'], properties: { task: taskSchema } };
  const tags = ['vms'];

  addRoute(app, {
    method: 'GET', url: '/api/v1/vms', access: 'viewer',
    schema: { summary: 'List VMs', tags, querystring: emptyObject, response: { 200: { type: 'object', properties: { vms: { type: 'array', items: vm } } }, ...errors() } },
    handler: () => ({ vms: ctx.vms.list() }),
  });

  addRoute(app, {
    method: 'POST', url: '/api/v1/vms', access: 'operator',
    schema: {
      summary: 'Define a VM (not started)', tags,
      body: { type: 'object', additionalProperties: false, required: ['name'], properties: props },
      response: { 201: vm, ...errors(409) },
    },
    handler: async (req, reply) => {
      const view = await ctx.vms.create(req.body as VmCreateBody);
      return reply.code(201).send(view);
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/vms/:id', access: 'viewer',
    schema: { summary: 'One VM', tags, params: refParams, response: { 200: vm, ...errors(404) } },
    handler: (req) => ctx.vms.get((req.params as Ref['Params']).id),
  });

  addRoute(app, {
    method: 'PATCH', url: '/api/v1/vms/:id', access: 'operator',
    schema: {
      summary: 'Edit a stopped VM', tags, params: refParams,
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: props },
      response: { 200: vm, ...errors(404, 409) },
    },
    handler: (req) => ctx.vms.update((req.params as Ref['Params']).id, req.body as VmUpdateBody),
  });

  addRoute(app, {
    method: 'DELETE', url: '/api/v1/vms/:id', access: 'operator',
    schema: {
      summary: 'Delete a VM (refused while running unless force=true)', tags, params: refParams,
      querystring: { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean', default: false } } },
      response: { 204: { type: 'null', description: 'deleted' }, ...errors(404, 409) },
    },
    handler: async (req, reply) => {
      await ctx.vms.remove((req.params as Ref['Params']).id, (req.query as { force: boolean }).force);
      return reply.code(204).send();
    },
  });

  const lifecycle = (op: 'start' | 'reboot' | 'pause' | 'resume', summary: string): void =>
    addRoute(app, {
      method: 'POST', url: `/api/v1/vms/:id/${op}`, access: 'operator',
      schema: { summary, tags, params: refParams, querystring: emptyObject, response: { 202: taskReply, ...errors(404, 409) } },
      handler: (req, reply) => reply.code(202).send({ task: ctx.vms[op]((req.params as Ref['Params']).id) }),
    });
  lifecycle('start', 'Start a stopped or crashed VM');
  lifecycle('reboot', 'Reset a running VM');
  lifecycle('pause', 'Pause a running VM');
  lifecycle('resume', 'Resume a paused VM');

  addRoute(app, {
    method: 'POST', url: '/api/v1/vms/:id/stop', access: 'operator',
    schema: {
      summary: 'ACPI shutdown, forced off after timeoutSeconds', tags, params: refParams,
      querystring: { type: 'object', additionalProperties: false, properties: { timeoutSeconds: { type: 'integer', minimum: 0, maximum: 3600, default: 30 } } },
      response: { 202: taskReply, ...errors(404, 409) },
    },
    handler: (req, reply) => {
      const q = req.query as { timeoutSeconds: number };
      return reply.code(202).send({ task: ctx.vms.stop((req.params as Ref['Params']).id, q.timeoutSeconds) });
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/vms/:id/console/log', access: 'viewer',
    schema: {
      summary: 'Recent serial console output as text (last 256 KiB)', tags, params: refParams, querystring: emptyObject,
      response: { 200: { type: 'string', contentType: 'text/plain' }, ...errors(404) },
    },
    handler: (req, reply) => reply.type('text/plain; charset=utf-8').send(ctx.vms.consoleHistory((req.params as Ref['Params']).id)),
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/vms/:id/console', access: 'viewer', websocket: true,
    schema: {
      summary: 'Serial console (WebSocket: binary frames both ways; recent output replayed first; viewers cannot type)', tags,
      params: refParams,
      querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } },
      response: { 101: { type: 'null', description: 'switching to WebSocket' }, ...errors(404, 426) },
    },
    handler: websocketOnly,
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/vms/:id/metrics', access: 'viewer',
    schema: {
      summary: 'Metrics history (5 s samples, kept a day)', tags, params: refParams,
      querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'integer', minimum: 0, description: 'ms since the epoch; default: the last hour' } } },
      response: { 200: { type: 'object', properties: { samples: { type: 'array', items: sampleSchema } } }, ...errors(404) },
    },
    handler: (req) => {
      const since = (req.query as { since?: number }).since ?? Date.now() - 3600_000;
      return { samples: ctx.vms.metricsSince((req.params as Ref['Params']).id, since) };
    },
  });
}

/** The plain-HTTP side of a WebSocket route (the upgrade itself is handled in websocket.ts). */
export function websocketOnly(): never {
  throw Object.assign(new Error('this endpoint is a WebSocket: connect with an Upgrade: websocket request'), {
    statusCode: 426,
    code: 'upgrade_required',
  });
}
