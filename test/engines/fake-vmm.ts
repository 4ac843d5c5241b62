/**
 * A stand-in typevisor VMM that speaks the control-API contract of
 * src/platform/engines/typevisor/vmm-api.ts, for testing the typevisor engine
 * on hosts where the real VMM cannot run. It checks request bodies like the real
 * one must, "boots" by printing a line, echoes console input, powers off on
 * PowerButton (exit.json + exit 0).
 *
 * Usage: node --import tsx fake-vmm.ts vmm --api-sock PATH --console-sock PATH --id ID
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function option(name: string): string {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? process.argv[index + 1] : undefined;
  if (value === undefined) {
    process.stderr.write(`fake-vmm: missing ${name}\n`);
    process.exit(2);
  }
  return value;
}

const apiSocket = option('--api-sock');
const consoleSocket = option('--console-sock');
const id = option('--id');
const exitRecord = join(dirname(apiSocket), 'exit.json');

let state: 'Not started' | 'Running' | 'Paused' = 'Not started';
const config: { machine?: unknown; boot?: unknown; drives: Record<string, unknown>; nets: Record<string, unknown> } = { drives: {}, nets: {} };
let consoleClient: Socket | null = null;
let pendingOutput = '';

function consoleWrite(text: string): void {
  if (consoleClient) consoleClient.write(text);
  else pendingOutput += text;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function fault(res: ServerResponse, status: number, message: string): void {
  send(res, status, { fault_message: message });
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  const parsed: unknown = text ? JSON.parse(text) : {};
  if (typeof parsed !== 'object' || parsed === null) throw new Error('body is not an object');
  return parsed as Record<string, unknown>;
}

function exitWith(reason: 'poweroff'): void {
  writeFileSync(exitRecord, JSON.stringify({ reason }));
  setTimeout(() => process.exit(0), 50);
}

const api = createHttpServer((req, res) => {
  void (async () => {
    const url = req.url ?? '/';
    const body = req.method === 'GET' ? {} : await readBody(req);
    const beforeStart = state === 'Not started';
    if (req.method === 'GET' && url === '/vm/info') return send(res, 200, { id, state, vmm_version: 'fake' });
    if (req.method === 'GET' && url === '/vm/metrics') return send(res, 200, { block: { d0: { read_bytes: 4096, write_bytes: 512 } } });
    if (req.method === 'PUT' && url === '/machine-config') {
      if (!beforeStart) return fault(res, 400, 'machine-config is only allowed before InstanceStart');
      if (typeof body.vcpu_count !== 'number' || typeof body.mem_size_mib !== 'number') return fault(res, 400, 'vcpu_count and mem_size_mib are required numbers');
      config.machine = body;
      return send(res, 204);
    }
    if (req.method === 'PUT' && url === '/boot-source') {
      if (typeof body.kernel_image_path !== 'string') return fault(res, 400, 'kernel_image_path is required');
      config.boot = body;
      return send(res, 204);
    }
    const drive = /^\/drives\/([A-Za-z0-9_]+)$/.exec(url);
    if (req.method === 'PUT' && drive) {
      if (body.drive_id !== drive[1] || typeof body.path_on_host !== 'string' || typeof body.is_read_only !== 'boolean') {
        return fault(res, 400, 'drive_id must match the path; path_on_host and is_read_only are required');
      }
      config.drives[drive[1]!] = body;
      return send(res, 204);
    }
    const iface = /^\/network-interfaces\/([A-Za-z0-9_]+)$/.exec(url);
    if (req.method === 'PUT' && iface) {
      if (body.iface_id !== iface[1] || typeof body.host_dev_name !== 'string' || typeof body.guest_mac !== 'string') {
        return fault(res, 400, 'iface_id must match the path; host_dev_name and guest_mac are required');
      }
      config.nets[iface[1]!] = body;
      return send(res, 204);
    }
    if (req.method === 'PUT' && url === '/actions') {
      switch (body.action_type) {
        case 'InstanceStart':
          if (!beforeStart) return fault(res, 400, 'already started');
          if (config.machine === undefined || config.boot === undefined) return fault(res, 400, 'machine-config and boot-source first');
          state = 'Running';
          consoleWrite(`fake guest booted: ${JSON.stringify({ boot: config.boot, drives: Object.keys(config.drives), nets: Object.keys(config.nets) })}\r\n`);
          return send(res, 204);
        case 'PowerButton':
          // A VMM without ACPI power button support (ids starting "nobutton"): the engine must force the stop.
          if (id.startsWith('nobutton')) return fault(res, 400, 'PowerButton is not supported');
          consoleWrite('fake guest: power button\r\n');
          send(res, 204);
          return exitWith('poweroff');
        case 'Reset':
          consoleWrite('fake guest: reset\r\n');
          return send(res, 204);
        default:
          return fault(res, 400, `unknown action_type ${JSON.stringify(body.action_type)}`);
      }
    }
    if (req.method === 'PATCH' && url === '/vm') {
      if (beforeStart) return fault(res, 400, 'not started');
      if (body.state === 'Paused') state = 'Paused';
      else if (body.state === 'Resumed') state = 'Running';
      else return fault(res, 400, 'state must be Paused or Resumed');
      return send(res, 204);
    }
    return fault(res, 404, `no route ${req.method} ${url}`);
  })().catch((error: unknown) => fault(res, 400, (error as Error).message));
});

const consoleServer = createNetServer((socket) => {
  consoleClient?.destroy();
  consoleClient = socket;
  if (pendingOutput) {
    socket.write(pendingOutput);
    pendingOutput = '';
  }
  socket.on('data', (chunk: Buffer) => {
    if (state === 'Running') socket.write(`echo:${chunk.toString()}`);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (consoleClient === socket) consoleClient = null;
  });
});

consoleServer.listen(consoleSocket, () => api.listen(apiSocket));
