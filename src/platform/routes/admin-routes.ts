/** Auth (login/logout/whoami), users and API tokens. */
import type { FastifyInstance } from 'fastify';
import type { PlatformContext } from '../context.js';
import { USER_NAME_PATTERN, type Principal } from '../auth/auth-store.js';
import { ROLES, type Role } from '../auth/roles.js';
import { addRoute, emptyObject, errors, errorSchema, refParams } from '../http/route.js';
import { ApiError } from '../http/api-error.js';
import type { JsonSchema } from '../vms/vm-model.js';

const role: JsonSchema = { type: 'string', enum: [...ROLES] };
const password: JsonSchema = { type: 'string', minLength: 8, maxLength: 1024 };
const userSchema: JsonSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, role, createdAt: { type: 'string' } },
};
const tokenSchema: JsonSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, role, createdAt: { type: 'string' }, expiresAt: { type: ['string', 'null'] } },
};

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    bearer?: string;
  }
}

export function registerAdminRoutes(app: FastifyInstance, ctx: PlatformContext): void {
  addRoute(app, {
    method: 'POST', url: '/api/v1/auth/login', access: 'public',
    schema: {
      summary: 'Log in with a user name and password; returns a session token', tags: ['auth'],
      body: { type: 'object', additionalProperties: false, required: ['user', 'password'], properties: { user: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 1024 } } },
      response: { 200: { type: 'object', properties: { token: { type: 'string' }, expiresAt: { type: 'string' }, user: userSchema } }, 400: errorSchema, 401: errorSchema },
    },
    handler: async (req) => {
      const b = req.body as { user: string; password: string };
      return ctx.auth.login(b.user, b.password);
    },
  });

  addRoute(app, {
    method: 'POST', url: '/api/v1/auth/logout', access: 'viewer',
    schema: { summary: 'End the current session', tags: ['auth'], body: emptyObject, response: { 204: { type: 'null' }, ...errors() } },
    handler: (req, reply) => {
      if (req.principal?.kind !== 'session') throw new ApiError(400, 'not_a_session', 'logout ends a session; API tokens are revoked with DELETE /api/v1/tokens/{id}');
      ctx.auth.logout(req.bearer!);
      return reply.code(204).send();
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/auth/whoami', access: 'viewer',
    schema: {
      summary: 'Who the credentials belong to', tags: ['auth'],
      response: { 200: { type: 'object', properties: { kind: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' }, role } }, ...errors() },
    },
    handler: (req) => req.principal,
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/users', access: 'admin',
    schema: { summary: 'List users', tags: ['users'], response: { 200: { type: 'object', properties: { users: { type: 'array', items: userSchema } } }, ...errors() } },
    handler: () => ({ users: ctx.auth.listUsers() }),
  });

  addRoute(app, {
    method: 'POST', url: '/api/v1/users', access: 'admin',
    schema: {
      summary: 'Create a user', tags: ['users'],
      body: { type: 'object', additionalProperties: false, required: ['name', 'role', 'password'], properties: { name: { type: 'string', pattern: USER_NAME_PATTERN }, role, password } },
      response: { 201: userSchema, ...errors(409) },
    },
    handler: async (req, reply) => {
      const b = req.body as { name: string; role: Role; password: string };
      return reply.code(201).send(await ctx.auth.createUser(b.name, b.role, b.password));
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/users/:id', access: 'admin',
    schema: { summary: 'One user', tags: ['users'], params: refParams, response: { 200: userSchema, ...errors(404) } },
    handler: (req) => ctx.auth.getUser((req.params as { id: string }).id),
  });

  addRoute(app, {
    method: 'PATCH', url: '/api/v1/users/:id', access: 'admin',
    schema: {
      summary: 'Change a user\'s password or role (ends their sessions)', tags: ['users'], params: refParams,
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { role, password } },
      response: { 200: userSchema, ...errors(404) },
    },
    handler: (req) => ctx.auth.updateUser((req.params as { id: string }).id, req.body as { role?: Role; password?: string }),
  });

  addRoute(app, {
    method: 'DELETE', url: '/api/v1/users/:id', access: 'admin',
    schema: { summary: 'Delete a user', tags: ['users'], params: refParams, response: { 204: { type: 'null' }, ...errors(404) } },
    handler: (req, reply) => {
      ctx.auth.deleteUser((req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });

  addRoute(app, {
    method: 'GET', url: '/api/v1/tokens', access: 'admin',
    schema: { summary: 'List API tokens (secrets are never shown again)', tags: ['tokens'], response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenSchema } } }, ...errors() } },
    handler: () => ({ tokens: ctx.auth.listTokens() }),
  });

  addRoute(app, {
    method: 'POST', url: '/api/v1/tokens', access: 'admin',
    schema: {
      summary: 'Create an API token; the secret is in this response only', tags: ['tokens'],
      body: {
        type: 'object', additionalProperties: false, required: ['name', 'role'],
        properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' }, role, expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 } },
      },
      response: { 201: { type: 'object', properties: { token: tokenSchema, secret: { type: 'string' } } }, ...errors() },
    },
    handler: (req, reply) => {
      const b = req.body as { name: string; role: Role; expiresInDays?: number };
      const expiresAt = b.expiresInDays ? Date.now() + b.expiresInDays * 86400_000 : null;
      return reply.code(201).send(ctx.auth.createToken(b.name, b.role, { expiresAt }));
    },
  });

  addRoute(app, {
    method: 'DELETE', url: '/api/v1/tokens/:id', access: 'admin',
    schema: { summary: 'Revoke an API token (by id or name)', tags: ['tokens'], params: refParams, response: { 204: { type: 'null' }, ...errors(404) } },
    handler: (req, reply) => {
      ctx.auth.revokeToken((req.params as { id: string }).id);
      return reply.code(204).send();
    },
  });
}
