/**
 * WebSocket endpoints (ws library on the HTTP server's 'upgrade' event):
 * `/api/v1/events` and `/api/v1/vms/{id}/console`. Browsers cannot set an
 * Authorization header on a WebSocket, so `?token=` is accepted here too.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { PlatformContext } from '../context.js';
import { roleAllows, type Role } from '../auth/roles.js';
import { ApiError } from './api-error.js';

/** A slow viewer is dropped rather than letting its unsent output grow without bound. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_INPUT_FRAME_BYTES = 64 * 1024;

export function attachWebSockets(server: Server, ctx: PlatformContext): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_FRAME_BYTES });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const console = /^\/api\/v1\/vms\/([^/]+)\/console$/.exec(url.pathname);
      if (url.pathname !== '/api/v1/events' && !console) throw new ApiError(404, 'not_found', 'no WebSocket endpoint here');
      const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('token');
      if (!bearer) throw new ApiError(401, 'unauthenticated', 'missing credentials: Authorization: Bearer <token> or ?token=');
      const principal = ctx.auth.authenticate(bearer);
      if (!principal) throw new ApiError(401, 'unauthenticated', 'unknown or expired token');
      if (console) {
        const vmRef = decodeURIComponent(console[1]!);
        ctx.vms.resolve(vmRef); // 404 before upgrading
        wss.handleUpgrade(req, socket, head, (ws) => serveConsole(ws, ctx, vmRef, principal.role));
      } else {
        wss.handleUpgrade(req, socket, head, (ws) => serveEvents(ws, ctx));
      }
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, 'internal', 'internal error');
      const body = JSON.stringify({ error: { code: err.code, message: err.message } });
      socket.end(`HTTP/1.1 ${err.status} ${err.code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  });
  return wss;
}

function serveEvents(ws: WebSocket, ctx: PlatformContext): void {
  const unsubscribe = ctx.events.subscribe((event) => {
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.close(1008, 'too slow: events dropped');
      return;
    }
    ws.send(JSON.stringify(event));
  });
  ws.on('close', unsubscribe);
  ws.on('error', unsubscribe);
  // Messages from the client are not part of the protocol; ignore them.
  ws.send(JSON.stringify({ type: 'hello', time: new Date().toISOString() }));
}

function serveConsole(ws: WebSocket, ctx: PlatformContext, vmRef: string, role: Role): void {
  let session: ReturnType<PlatformContext['vms']['attachConsole']>;
  try {
    session = ctx.vms.attachConsole(vmRef, (chunk) => {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(1008, 'too slow: console output dropped');
        return;
      }
      ws.send(chunk, { binary: true });
    });
  } catch (e) {
    ws.close(1011, e instanceof Error ? e.message.slice(0, 120) : 'error');
    return;
  }
  if (session.history.length > 0) ws.send(session.history, { binary: true });
  const canType = roleAllows(role, 'operator');
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    if (!canType) return; // viewers watch only
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    ctx.vms.writeConsole(session.vmId, buf);
  });
  ws.on('close', () => session.detach());
  ws.on('error', () => session.detach());
}
