/**
 * OpenAPI 3.0 document built from the same route declarations that validate
 * requests (collected through fastify's onRoute hook), so the document cannot
 * drift from the routes.
 */
import type { RouteOptions } from 'fastify';
import type { RouteAccess } from '../auth/roles.js';
import type { RouteSchema } from './route.js';
import type { JsonSchema } from '../vms/vm-model.js';

export interface CollectedRoute {
  method: string;
  url: string;
  access: RouteAccess | undefined;
  websocket: boolean;
  schema: RouteSchema | undefined;
}

export class OpenApiCollector {
  readonly routes: CollectedRoute[] = [];

  onRoute = (r: RouteOptions): void => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const cfg = (r.config ?? {}) as { access?: RouteAccess; websocket?: boolean };
    for (const m of methods) {
      if (m === 'HEAD' || m === 'OPTIONS') continue;
      this.routes.push({ method: m, url: r.url, access: cfg.access, websocket: cfg.websocket === true, schema: r.schema as RouteSchema | undefined });
    }
  };

  document(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = toOpenApiPath(r.url);
      const op: Record<string, unknown> = {
        operationId: operationId(r.method, r.url),
        summary: r.schema?.summary ?? '',
        tags: r.schema?.tags ?? [],
        parameters: [...parameters(r.schema?.params, 'path'), ...parameters(r.schema?.querystring, 'query')],
        responses: responses(r.schema?.response ?? {}),
        'x-access': r.access ?? 'public',
      };
      if (r.websocket) op['x-websocket'] = true;
      if (r.access !== 'public') op['security'] = [{ bearer: [] }];
      else op['security'] = [];
      if (r.schema?.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: toOpenApiSchema(r.schema.body) } } };
      (paths[path] ??= {})[r.method.toLowerCase()] = op;
    }
    return {
      openapi: '3.0.3',
      info: { title: 'typevisor node API', version, description: 'Errors are always {error: {code, message, field?}}. Auth: Authorization: Bearer <token> (WebSockets also accept ?token=).' },
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      paths,
    };
  }
}

export function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function operationId(method: string, url: string): string {
  const words = url.replace(/^\/api\/v1\//, '').split('/').map((s) => (s.startsWith(':') ? 'by-' + s.slice(1) : s));
  return [method.toLowerCase(), ...words].join('-').replace(/[^a-zA-Z0-9-]/g, '-');
}

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = (schema['required'] ?? []) as string[];
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: toOpenApiSchema(s),
    ...(s['description'] ? { description: s['description'] } : {}),
  }));
}

function responses(map: Record<number, JsonSchema>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [code, schema] of Object.entries(map)) {
    const description = String(schema['description'] ?? (Number(code) < 300 ? 'success' : 'error'));
    if (schema['type'] === 'null') {
      out[code] = { description };
    } else if (typeof schema['contentType'] === 'string') {
      out[code] = { description, content: { [schema['contentType']]: { schema: { type: 'string' } } } };
    } else {
      out[code] = { description, content: { 'application/json': { schema: toOpenApiSchema(schema) } } };
    }
  }
  return out;
}

/** JSON Schema (draft 7 as ajv takes it) -> OpenAPI 3.0 schema: `type: [x, 'null']` becomes `nullable`. */
export function toOpenApiSchema(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'contentType') continue;
    if (k === 'type' && Array.isArray(v)) {
      const types = v.filter((t) => t !== 'null');
      if (types.length === 1) out['type'] = types[0];
      else out['anyOf'] = types.map((t) => ({ type: t }));
      if (v.includes('null')) out['nullable'] = true;
    } else if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, JsonSchema>).map(([p, ps]) => [p, toOpenApiSchema(ps)]));
    } else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = toOpenApiSchema(v as JsonSchema);
    } else if ((k === 'anyOf' || k === 'oneOf' || k === 'allOf') && Array.isArray(v)) {
      const parts = (v as JsonSchema[]).filter((x) => x['type'] !== 'null').map(toOpenApiSchema);
      if (parts.length < (v as JsonSchema[]).length) out['nullable'] = true;
      if (parts.length === 1) Object.assign(out, parts[0]);
      else out[k] = parts;
    } else {
      out[k] = v;
    }
  }
  return out;
}
