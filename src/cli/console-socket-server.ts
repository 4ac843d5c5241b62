/**
 * Serves a VM's serial console on a Unix socket (the platform's typevisor
 * engine connects there): guest output goes to every connected client, and
 * whatever a client writes is typed into the guest.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';

export async function serveConsoleSocket(
  path: string,
  onInput: (bytes: Uint8Array) => void,
): Promise<{ write(bytes: Uint8Array): void; close(): Promise<void> }> {
  if (existsSync(path)) unlinkSync(path);
  const clients = new Set<Socket>();
  const server: Server = createServer((socket) => {
    clients.add(socket);
    socket.on('data', (chunk: Buffer) => onInput(new Uint8Array(chunk)));
    socket.on('close', () => clients.delete(socket));
    socket.on('error', () => clients.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    write(bytes) {
      // A slow client must not hold the guest back: drop its backlog rather than buffer without bound.
      for (const c of clients) if (c.writableLength < 1024 * 1024) c.write(bytes);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.close(() => resolve());
      }),
  };
}
