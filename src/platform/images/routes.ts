/** /api/v1/images: build from a recipe (202 + task), list, inspect, delete. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PlatformContext } from '../context.js';
import { addRoute, errors, taskSchema } from '../http/route.js';
import type { JsonSchema } from '../vms/vm-model.js';
import { RESOURCE_NAME_PATTERN } from '../storage/names.js';
import { RECIPES, type ImageManager } from './manager.js';

const NAME: JsonSchema = { type: 'string', pattern: RESOURCE_NAME_PATTERN.source, maxLength: 120 };

export const imageSchema: JsonSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    recipe: { type: 'string' },
    status: { type: 'string', enum: ['building', 'ready'] },
    disk: { type: 'object', properties: { pool: { type: 'string' }, volume: { type: 'string' }, virtualSizeBytes: { type: 'number' }, actualSizeBytes: { type: 'number' } } },
    boot: { anyOf: [{ type: 'object', properties: { kernel: { type: 'string' }, initrd: { type: 'string' }, cmdline: { type: 'string' } } }, { type: 'null' }] },
    inputs: { type: 'object', additionalProperties: true },
    taskId: { type: ['string', 'null'] },
    buildSeconds: { type: ['number', 'null'] },
    createdAt: { type: 'string' },
    clones: { type: 'integer' },
  },
};

type Params = { Params: { name: string } };
const params: JsonSchema = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NAME } };

export function registerImageRoutes(app: FastifyInstance, ctx: PlatformContext, images: ImageManager): void {
  const tags = ['images'];
  addRoute(app, {
    method: 'GET', url: '/api/v1/images', access: 'viewer',
    schema: { summary: 'List images', tags, response: { 200: { type: 'object', properties: { images: { type: 'array', items: imageSchema } } }, ...errors() } },
    handler: async () => ({ images: await images.list() }),
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/images/recipes', access: 'viewer',
    schema: {
      summary: 'Recipes images can be built from', tags,
      response: { 200: { type: 'object', properties: { recipes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' } } } } } }, ...errors() },
    },
    handler: () => ({ recipes: Object.values(RECIPES).map((r) => ({ name: r.name, description: r.description })) }),
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/images', access: 'admin',
    schema: {
      summary: 'Build an image from a recipe (a task with progress and logs)', tags,
      body: { type: 'object', additionalProperties: false, required: ['name', 'recipe'], properties: { name: NAME, recipe: { type: 'string', enum: Object.keys(RECIPES) } } },
      response: { 202: { type: 'object', required: ['task'], properties: { task: taskSchema, image: imageSchema } }, ...errors(409) },
    },
    handler: async (req, reply) => {
      const b = req.body as { name: string; recipe: string };
      const task = images.build(b.name, b.recipe, ctx.tasks);
      return reply.code(202).send({ task, image: await images.get(b.name) });
    },
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/images/:name', access: 'viewer',
    schema: { summary: 'Inspect an image', tags, params, response: { 200: imageSchema, ...errors(404) } },
    handler: (req) => images.get((req as FastifyRequest<Params>).params.name),
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/images/:name', access: 'admin',
    schema: { summary: 'Delete an image (refused while VMs use clones of it)', tags, params, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      await images.delete((req as FastifyRequest<Params>).params.name);
      return reply.code(204).send();
    },
  });
}
