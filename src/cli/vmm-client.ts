/** A small client for the VMM control API (HTTP/1.1 over a Unix socket). */
import { request } from 'node:http';

export class VmmApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function vmmRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
          if ((res.statusCode ?? 500) >= 400) {
            reject(new VmmApiError(res.statusCode ?? 500, String(json?.['fault_message'] ?? text)));
          } else resolve(json);
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? `no VMM is listening on ${socketPath} (${e.code})`
            : `cannot reach the VMM at ${socketPath}: ${e.message}`,
        ),
      ),
    );
    // A VMM that stopped answering must not hang its caller forever.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`the VMM at ${socketPath} did not answer ${method} ${path} within ${timeoutMs} ms`)));
    if (payload) req.write(payload);
    req.end();
  });
}
