/**
 * One way to declare a route: method, URL, who may call it, and JSON Schemas
 * for everything it accepts and returns. The schemas validate requests and
 * are the source of the OpenAPI document (openapi.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { RouteAccess } from '../auth/roles.js';
import type { JsonSchema } from '../vms/vm-model.js';

export interface RouteSchema {
  summary: string;
  tags: string[];
  description?: string;
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  /** Status code -> schema; a schema with `contentType` other than JSON is documented as such. */
  response: Record<number, JsonSchema>;
}

export interface RouteDef {
  method: HTTPMethods;
  url: string;
  access: RouteAccess;
  /** Served as a WebSocket (a plain GET answers 426). */
  websocket?: boolean;
  schema: RouteSchema;
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    websocket?: boolean;
  }
}

export function addRoute(app: FastifyInstance, def: RouteDef): void {
  app.route({
    method: def.method,
    url: def.url,
    schema: def.schema,
    config: { access: def.access, websocket: def.websocket === true },
    handler: def.handler,
  });
}

/** Shared schema pieces. */
export const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
    },
  },
};

export const refParams: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128, description: 'id or name' } },
};

export const emptyObject: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };

export const taskSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'kind', 'status', 'progress'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    target: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    log: { type: 'array', items: { type: 'string' } },
    error: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    startedAt: { type: ['string', 'null'] },
    finishedAt: { type: ['string', 'null'] },
  },
};

/** Standard error responses every authenticated route may give. */
export function errors(...codes: number[]): Record<number, JsonSchema> {
  const out: Record<number, JsonSchema> = {};
  for (const c of [400, 401, 403, ...codes]) out[c] = errorSchema;
  return out;
}
