import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { QmpClient, QmpError, type QmpEvent } from './qmp.js';

type Handler = (message: Record<string, unknown>, socket: Socket) => void;

/** A fake QMP server: greets, then hands every parsed line to `handler`. */
async function fakeQmp(handler: Handler, greet = true): Promise<{ path: string; server: Server; cleanup(): Promise<void>; clients: Socket[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'qmp-'));
  const path = join(dir, 'qmp.sock');
  const clients: Socket[] = [];
  const server = createServer((socket) => {
    clients.push(socket);
    if (greet) socket.write('{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": ["oob"]}}\r\n');
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        handler(JSON.parse(line) as Record<string, unknown>, socket);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(path);
  await once(server, 'listening');
  return {
    path,
    server,
    clients,
    async cleanup() {
      for (const c of clients) c.destroy();
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function reply(socket: Socket, message: Record<string, unknown>, body: Record<string, unknown>): void {
  socket.write(`${JSON.stringify({ ...body, id: message.id })}\r\n`);
}

test('negotiates capabilities, runs commands by id, reports errors and events', async () => {
  const seen: string[] = [];
  const fake = await fakeQmp((message, socket) => {
    seen.push(String(message.execute));
    switch (message.execute) {
      case 'qmp_capabilities':
        reply(socket, message, { return: {} });
        break;
      case 'query-status':
        // An event in the same write as the answer, split oddly across writes.
        socket.write('{"event": "STOP", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}\r\n{"ret');
        setTimeout(() => socket.write(`urn": {"status": "paused", "running": false}, "id": ${JSON.stringify(message.id)}}\r\n`), 10);
        break;
      case 'query-name':
        setTimeout(() => reply(socket, message, { return: { name: String(message.id) } }), message.id === 'tv-6' ? 30 : 0);
        break;
      case 'bogus':
        reply(socket, message, { error: { class: 'CommandNotFound', desc: 'The command bogus has not been found' } });
        break;
      default:
        break; // never answered
    }
  });
  try {
    const client = await QmpClient.connect(fake.path, { timeoutMs: 2000 });
    assert.deepEqual(seen, ['qmp_capabilities']);
    assert.deepEqual((client.greeting.capabilities as string[]), ['oob']);
    const events: QmpEvent[] = [];
    client.on('event', (event: QmpEvent) => events.push(event));
    const status = await client.execute<{ status: string }>('query-status');
    assert.equal(status.status, 'paused');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event, 'STOP');
    await assert.rejects(client.execute('bogus'), (error: unknown) => {
      assert.ok(error instanceof QmpError);
      assert.equal(error.errorClass, 'CommandNotFound');
      return true;
    });
    await assert.rejects(client.execute('silent', undefined, 50), /no answer within 50 ms/);
    // Concurrent commands are matched by id, not by order.
    const [a, b] = await Promise.all([client.execute<{ name: string }>('query-name'), client.execute<{ name: string }>('query-name')]);
    assert.notEqual(a.name, b.name);
    assert.ok(a.name.startsWith('tv-') && b.name.startsWith('tv-'));
    client.close();
    await client.closedPromise();
    await assert.rejects(client.execute('query-status'), /closed/);
  } finally {
    await fake.cleanup();
  }
});

test('pending commands fail when the server goes away', async () => {
  const fake = await fakeQmp((message, socket) => {
    if (message.execute === 'qmp_capabilities') reply(socket, message, { return: {} });
    if (message.execute === 'quit') socket.destroy();
  });
  try {
    const client = await QmpClient.connect(fake.path);
    const closed = once(client, 'close');
    await assert.rejects(client.execute('quit'), /closed/);
    await closed;
    assert.equal(client.isClosed, true);
  } finally {
    await fake.cleanup();
  }
});

test('garbage from the server ends the connection with a clear error', async () => {
  const fake = await fakeQmp((message, socket) => {
    if (message.execute === 'qmp_capabilities') reply(socket, message, { return: {} });
    else socket.write('this is not json\r\n');
  });
  try {
    const client = await QmpClient.connect(fake.path);
    await assert.rejects(client.execute('query-status'), /invalid JSON/);
  } finally {
    await fake.cleanup();
  }
});

test('a server that never greets or no server at all gives a clear error', async () => {
  const fake = await fakeQmp(() => {}, false);
  try {
    await assert.rejects(QmpClient.connect(fake.path, { timeoutMs: 100 }), /no greeting within 100 ms/);
    await assert.rejects(QmpClient.connect(join(fake.path, '..', 'absent.sock'), { timeoutMs: 100 }), /connect to .*absent\.sock failed/);
  } finally {
    await fake.cleanup();
  }
});
