/**
 * Serves the built web UI (web/dist, made by `npx vite build web`) at `/`.
 * Paths that name a file get the file; any other non-API path gets index.html
 * so the single-page app's own router can show it (deep links, reloads).
 * API paths that reach here are unknown routes and keep the API's 404 shape.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addRoute } from './route.js';

/** web/dist of the repository this file belongs to (works from src/ under tsx and from dist/src/ when compiled). */
export function findUiRoot(): string | null {
  const override = process.env['TYPEVISOR_WEB_ROOT'];
  if (override) return existsSync(join(override, 'index.html')) ? resolve(override) : null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'web', 'dist');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  return null;
}

const API_PREFIXES = ['/api/', '/metrics'];

export async function registerStaticUi(app: FastifyInstance, root: string | null = findUiRoot()): Promise<void> {
  // preCompressed: the build writes .br/.gz beside each asset (web/vite.config.ts); browsers that accept them get those.
  if (root) await app.register(fastifyStatic, { root, serve: false, preCompressed: true });
  // `/` and `/*` both, so the route tree (and the OpenAPI check against it) lists each with its method.
  for (const url of ['/', '/*']) addRoute(app, {
    method: 'GET', url, access: 'public',
    schema: {
      summary: 'The web UI (static files; other paths get index.html for the single-page app)', tags: ['ui'],
      response: { 200: { type: 'string', contentType: 'text/html' } },
    },
    handler: (req: FastifyRequest, reply: FastifyReply) => {
      let path: string;
      try {
        path = decodeURIComponent(req.url.split('?')[0] ?? '/');
      } catch {
        return reply.code(400).send({ error: { code: 'invalid_request', message: 'malformed URL encoding in the path' } });
      }
      if (API_PREFIXES.some((p) => path.startsWith(p))) {
        return reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${path}` } });
      }
      if (!root) {
        return reply.code(503).type('text/plain; charset=utf-8').send('the web UI is not built: run `npx vite build web` (scripts/setup.sh does)\n');
      }
      const file = resolve(root, '.' + path);
      const inside = file.startsWith(root + sep);
      if (inside && existsSync(file) && statSync(file).isFile()) {
        // Vite names assets by content hash, so they never change under one name.
        const immutable = path.startsWith('/assets/');
        return reply.sendFile(file.slice(root.length + 1), immutable ? { maxAge: 365 * 86400_000, immutable: true } : { maxAge: 0 });
      }
      return reply.type('text/html; charset=utf-8').sendFile('index.html', { maxAge: 0 });
    },
  });
}
