import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ConsoleSocket } from './console-socket.js';

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('reconnects after the server drops it, queues typing meanwhile, stops when told', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'console-'));
  const path = join(dir, 'console.sock');
  const connections: Socket[] = [];
  let received = '';
  const server = createServer((socket) => {
    connections.push(socket);
    socket.write(`hello #${connections.length}\n`);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
  });
  server.listen(path);
  await once(server, 'listening');
  let alive = true;
  const consoleSocket = new ConsoleSocket(path, () => alive);
  let output = '';
  consoleSocket.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    assert.equal(await consoleSocket.open(), true);
    consoleSocket.write(Buffer.from('a'));
    await until(() => received === 'a' && output === 'hello #1\n');

    connections[0]!.destroy();
    await until(() => !consoleSocket.isConnected);
    consoleSocket.write(Buffer.from('b')); // typed while disconnected
    await until(() => connections.length === 2 && received === 'ab');
    await until(() => output === 'hello #1\nhello #2\n');

    alive = false; // the engine process is gone: no more reconnects
    connections[1]!.destroy();
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(connections.length, 2);
  } finally {
    consoleSocket.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('open() on a missing socket resolves false and keeps retrying until close()', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'console-'));
  const path = join(dir, 'later.sock');
  const consoleSocket = new ConsoleSocket(path, () => true);
  try {
    assert.equal(await consoleSocket.open(), false);
    const server = createServer((socket) => socket.end('late\n'));
    server.listen(path);
    await once(server, 'listening');
    let output = '';
    consoleSocket.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await until(() => output.includes('late'));
    consoleSocket.close();
    server.close();
  } finally {
    consoleSocket.close();
    await rm(dir, { recursive: true, force: true });
  }
});
