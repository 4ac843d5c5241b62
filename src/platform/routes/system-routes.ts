/** Tasks, the node, the event stream and Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { PlatformContext } from '../context.js';
import { addRoute, emptyObject, errors, refParams, taskSchema } from '../http/route.js';
import { websocketOnly } from './vm-routes.js';
import { renderPrometheus } from './prometheus.js';
import type { JsonSchema } from '../vms/vm-model.js';
import type { TaskStatus } from '../tasks/task-manager.js';

const nodeSampleSchema: JsonSchema = {
  type: 'object',
  properties: Object.fromEntries(
    ['time', 'cpuPercent', 'memoryTotalBytes', 'memoryUsedBytes', 'diskReadBytes', 'diskWriteBytes', 'netRxBytes', 'netTxBytes', 'load1'].map((k) => [k, { type: 'number' }]),
  ),
};

export function registerSystemRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  addRoute(app, {
    method: 'GET', url: '/api/v1/tasks', access: 'viewer',
    schema: {
      summary: 'Recent tasks, newest first', tags: ['tasks'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          target: { type: 'string', maxLength: 128 },
          status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        },
      },
      response: { 200: { type: 'object', properties: { tasks: { type: 'array', items: taskSchema } } }, ...errors() },
    },
    handler: (req) => {
      const q = req.query as { target?: string; status?: TaskStatus; limit: number };
      return { tasks: ctx.tasks.list(q) };
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/tasks/:id', access: 'viewer',
    schema: { summary: 'One task with its log', tags: ['tasks'], params: refParams, response: { 200: taskSchema, ...errors(404) } },
    handler: (req) => ctx.tasks.get((req.params as { id: string }).id),
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/events', access: 'viewer', websocket: true,
    schema: {
      summary: 'Event stream (WebSocket of JSON messages with a `type`: vm.state, vm.created, vm.updated, vm.deleted, task.created, task.progress, task.log, task.finished)',
      tags: ['events'],
      querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } },
      response: { 101: { type: 'null', description: 'switching to WebSocket' }, ...errors(426) },
    },
    handler: websocketOnly,
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/node', access: 'viewer',
    schema: {
      summary: 'This node: host, engines (and why the default), VM counts, current metrics', tags: ['node'],
      response: { 200: { type: 'object', additionalProperties: true, properties: { hostname: { type: 'string' }, version: { type: 'string' } } }, ...errors() },
    },
    handler: async () => {
      const def = await ctx.engines.defaultEngine();
      const engines: Record<string, unknown> = {};
      for (const name of ['typevisor', 'qemu'] as const) {
        try {
          engines[name] = await ctx.engines.get(name).availability();
        } catch (e) {
          engines[name] = { available: false, reason: e instanceof Error ? e.message : String(e) };
        }
      }
      const counts: Record<string, number> = {};
      for (const vm of ctx.vms.list()) counts[vm.state] = (counts[vm.state] ?? 0) + 1;
      return { ...ctx.node.info(), version: ctx.version, defaultEngine: def, engines, vms: counts, metrics: ctx.node.latest() };
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/node/metrics', access: 'viewer',
    schema: {
      summary: 'Node metrics history (5 s samples, kept a day in memory)', tags: ['node'],
      querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'integer', minimum: 0 } } },
      response: { 200: { type: 'object', properties: { samples: { type: 'array', items: nodeSampleSchema } } }, ...errors() },
    },
    handler: (req) => ({ samples: ctx.node.since((req.query as { since?: number }).since ?? Date.now() - 3600_000) }),
  });

  addRoute(app, {
    method: 'GET', url: '/metrics', access: 'viewer',
    schema: {
      summary: 'Prometheus text exposition (node and per-VM); needs a viewer token like every other route', tags: ['node'],
      querystring: emptyObject,
      response: { 200: { type: 'string', contentType: 'text/plain; version=0.0.4' }, ...errors() },
    },
    handler: (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(renderPrometheus(ctx)),
  });
}
