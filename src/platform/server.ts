/**
 * The node daemon's HTTP server: fastify with strict validation, one error
 * shape, role checks on every route, OpenAPI generated from the routes, and
 * the WebSocket endpoints.
 *
 * Other parts of the platform (storage, networks, images) add their routes by
 * passing RoutePlugins: they declare routes with `addRoute` (http/route.ts) so
 * they get the same auth, validation and OpenAPI treatment.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { PlatformContext } from './context.js';
import { ApiError } from './http/api-error.js';
import { OpenApiCollector } from './http/openapi.js';
import { describeValidationError, validatorCompiler } from './http/validation.js';
import { attachWebSockets } from './http/websocket.js';
import { roleAllows } from './auth/roles.js';
import { registerVmRoutes } from './routes/vm-routes.js';
import { registerAdminRoutes } from './routes/admin-routes.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { addRoute } from './http/route.js';
import { registerStaticUi } from './http/static-ui.js';

export type RoutePlugin = (app: FastifyInstance, ctx: PlatformContext) => void | Promise<void>;

export interface ServerOptions {
  /** Extra route plugins (storage, networks, images, web UI). */
  plugins?: RoutePlugin[];
  https?: { key: string | Buffer; cert: string | Buffer } | null;
  /** Largest request body accepted (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
const MAX_PARAM_LENGTH = 512;

export async function buildServer(ctx: PlatformContext, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request logging only at warn and above: the daemon log is for events, not access lines.
    loggerInstance: ctx.log.child({ component: 'http' }, { level: 'warn' }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    exposeHeadRoutes: false,
    // Longer than any id or name the schemas accept, so an over-long one gets the schema's 400 naming the field.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Router-level failures (malformed URL encoding, over-long parameters) in the API's error shape too.
    frameworkErrors: (error, _req, reply) => {
      const status = (error as FastifyError).statusCode ?? 400;
      const r = reply as unknown as { code(c: number): { send(b: unknown): void } };
      const message = status === 414 ? `a URL path parameter is too long (over ${MAX_PARAM_LENGTH} characters)` : error.message;
      r.code(status).send({ error: { code: status === 414 ? 'uri_too_long' : 'invalid_request', message } });
    },
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  // The API speaks JSON only: other bodies get 415 instead of reaching a handler as a string.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document the API; replies are plain JSON.stringify so nothing is silently dropped.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const openapi = new OpenApiCollector();
  app.addHook('onRoute', openapi.onRoute);

  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access;
    if (!access || access === 'public') return;
    const header = req.headers.authorization;
    let bearer: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new ApiError(401, 'unauthenticated', 'Authorization header must be "Bearer <token>"');
      bearer = m[1];
    } else if (req.routeOptions.config?.websocket) {
      bearer = (req.query as Record<string, string> | undefined)?.['token'];
    }
    if (!bearer) throw new ApiError(401, 'unauthenticated', 'missing credentials: send Authorization: Bearer <token>');
    const principal = ctx.auth.authenticate(bearer);
    if (!principal) throw new ApiError(401, 'unauthenticated', 'unknown or expired token');
    if (!roleAllows(principal.role, access)) {
      throw new ApiError(403, 'forbidden', `role ${principal.role} may not ${req.method} ${req.routeOptions.url}; needs ${access}`);
    }
    req.principal = principal;
    req.bearer = bearer;
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, req, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.status).send({ error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) } });
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const { message, field } = describeValidationError(fe.validation, fe.validationContext ?? 'body');
      return reply.code(400).send({ error: { code: 'invalid_request', message, ...(field ? { field } : {}) } });
    }
    const status = fe.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err: error, url: req.url }, 'request failed');
      return reply.code(500).send({ error: { code: 'internal', message: 'internal error; see the daemon log' } });
    }
    if (status === 413) keepConnectionToDrain(req.headers['content-length'], reply);
    const code = typeof fe.code === 'string' && !fe.code.startsWith('FST_') ? fe.code : fastifyCode(status);
    const message = status === 413 ? `request body too large (limit ${opts.bodyLimit ?? DEFAULT_BODY_LIMIT} bytes)` : fe.message;
    return reply.code(status).send({ error: { code, message } });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const shown = path.length > 200 ? `${path.slice(0, 200)}... (${path.length} characters)` : path;
    return reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${shown}` } });
  });

  registerAdminRoutes(app, ctx);
  registerVmRoutes(app, ctx);
  registerSystemRoutes(app, ctx);
  for (const plugin of opts.plugins ?? []) await plugin(app, ctx);
  await registerStaticUi(app); // web UI at / (web/dist), SPA fallback

  addRoute(app, {
    method: 'GET', url: '/api/v1/openapi.json', access: 'public',
    schema: { summary: 'This document (no credentials needed)', tags: ['meta'], response: { 200: { type: 'object', additionalProperties: true } } },
    handler: () => openapi.document(ctx.version),
  });

  const wss = attachWebSockets(app.server as Server, ctx);
  // app.close() waits for open connections: end the WebSockets (events, consoles) first, or a browser tab
  // with the UI open keeps a stopping daemon alive.
  app.addHook('preClose', (done) => {
    for (const client of wss.clients) client.terminate();
    wss.close(() => done());
  });
  await app.ready();
  return app;
}

/** Bodies up to this size are read and dropped after a 413 instead of closing the connection on them. */
const DRAIN_AFTER_413_BYTES = 64 * 1024 * 1024;

/**
 * Fastify answers an over-long body with `Connection: close` and closes the socket while the client is still
 * sending; unread data makes the kernel reset the connection, so the client may get EPIPE and never see the 413.
 * For a declared length we are willing to read, keep the connection: Node discards the rest of the body after the
 * response (keep-alive), and the client reads the error. Larger or undeclared bodies still get the close.
 */
function keepConnectionToDrain(contentLength: string | undefined, reply: { removeHeader(name: string): unknown }): void {
  const declared = Number(contentLength);
  if (contentLength !== undefined && Number.isSafeInteger(declared) && declared <= DRAIN_AFTER_413_BYTES) {
    reply.removeHeader('connection');
  }
}

function fastifyCode(status: number): string {
  switch (status) {
    case 400: return 'invalid_request';
    case 404: return 'not_found';
    case 405: return 'method_not_allowed';
    case 413: return 'payload_too_large';
    case 415: return 'unsupported_media_type';
    case 426: return 'upgrade_required';
    default: return `http_${status}`;
  }
}
