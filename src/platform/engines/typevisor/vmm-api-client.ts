/**
 * Client of one typevisor VMM's control API: HTTP/1.1 with JSON bodies over a
 * Unix socket (RUN/api.sock), Firecracker-style resources (issue 4 defines the
 * server; this is the contract the platform assumes, listed in vmm-api.ts).
 */
import { request } from 'node:http';

/** A non-2xx answer; `fault` is the server's `fault_message`. */
export class VmmApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly fault: string,
  ) {
    super(`VMM API ${method} ${path} answered ${status}: ${fault}`);
    this.name = 'VmmApiError';
  }
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export class VmmApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  put<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  patch<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PATCH', path, body);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new Error(`VMM API ${method} ${path}: response over ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            if (text.trim().length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed as T);
              return;
            }
            const fault =
              typeof parsed === 'object' && parsed !== null && 'fault_message' in parsed
                ? String((parsed as { fault_message: unknown }).fault_message)
                : typeof parsed === 'string'
                  ? parsed.slice(0, 300)
                  : 'no details';
            reject(new VmmApiError(method, path, status, fault));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`VMM API ${method} ${path} got no answer within ${this.timeoutMs} ms`)));
      req.on('error', (error) => reject(error instanceof VmmApiError ? error : new Error(`VMM API ${method} ${path} on ${this.socketPath}: ${error.message}`)));
      req.end(payload);
    });
  }
}
