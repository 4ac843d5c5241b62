/**
 * Platform benchmark (`npm run bench:platform`; not a test):
 *  1. time from POST /vms + start to the first console byte, median of N per available engine;
 *  2. M VMs started concurrently: total time until every one printed its first console byte, daemon RSS;
 *  3. GET /api/v1/vms requests/s with 100 VMs defined.
 * Options: --runs N (20) --concurrent M (20) --seconds S (5).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { startDaemon } from '../src/platform/daemon.js';
import { demoBoot } from '../src/platform/demo.js';
import type { EngineName } from '../src/platform/engines/engine.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const TOKEN = 'tv_bench_0123456789abcdef0123456789';
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const runs = arg('runs', 20);
  const concurrent = arg('concurrent', 20);
  const seconds = arg('seconds', 5);
  const boot = await demoBoot({ allowFetch: true });
  if (!boot) throw new Error('no guest artifacts');
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-bench-'));
  const d = await startDaemon({ dataDir, listen: '127.0.0.1:0', demo: false, bootstrapToken: TOKEN, log: pino({ level: 'warn' }), print: () => {} });
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {  
    const res = await fetch(d.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const firstByte = (id: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${d.url.replace('http', 'ws')}/api/v1/vms/${id}/console`, { headers: { authorization: `Bearer ${TOKEN}` } });
      ws.once('message', () => {
        ws.close();
        resolve();
      });
      ws.once('error', reject);
    });
  const bootOne = async (name: string, engine: EngineName): Promise<number> => {
    const t0 = performance.now();
    const vm = await api('POST', '/api/v1/vms', { name, engine, memoryMiB: 128, boot });
    const seen = firstByte(vm.id);
    await api('POST', `/api/v1/vms/${vm.id}/start`);
    await seen;
    const ms = performance.now() - t0;
    await api('DELETE', `/api/v1/vms/${vm.id}?force=true`);
    return ms;
  };

  try {
    const node = await api('GET', '/api/v1/node');
    console.log(`host: ${node.hostname}, ${node.cpus} CPUs; default engine ${node.defaultEngine.name}: ${node.defaultEngine.reason}`);
    for (const engine of ['qemu', 'typevisor'] as EngineName[]) {
      if (!node.engines[engine]?.available) {
        console.log(`${engine}: not available here (${node.engines[engine]?.reason})`);
        continue;
      }
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await bootOne(`bench-${engine}-${i}`, engine));
      console.log(`${engine}: POST /vms + start -> first console byte: median ${median(times).toFixed(0)} ms over ${runs} (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`);
    }

    const t0 = performance.now();
    const vms = await Promise.all(Array.from({ length: concurrent }, (_, i) => api('POST', '/api/v1/vms', { name: `conc-${i}`, memoryMiB: 128, boot })));
    await Promise.all(vms.map(async (vm: { id: string }) => {
      const seen = firstByte(vm.id);
      await api('POST', `/api/v1/vms/${vm.id}/start`);
      await seen;
    }));
    const total = performance.now() - t0;
    const rss = process.memoryUsage().rss;
    console.log(`${concurrent} VMs started concurrently: all printing after ${(total / 1000).toFixed(1)} s; daemon RSS ${(rss / 1048576).toFixed(0)} MiB`);
    await Promise.all(vms.map((vm: { id: string }) => api('DELETE', `/api/v1/vms/${vm.id}?force=true`)));

    for (let i = 0; i < 100; i++) await api('POST', '/api/v1/vms', { name: `def-${i}`, memoryMiB: 128, boot });
    let count = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        await api('GET', '/api/v1/vms');
        count++;
      }
    }));
    console.log(`GET /api/v1/vms with 100 VMs defined: ${(count / seconds).toFixed(0)} requests/s (8 concurrent clients, ${seconds} s)`);
  } finally {
    for (const vm of (await api('GET', '/api/v1/vms')).vms as { id: string }[]) await api('DELETE', `/api/v1/vms/${vm.id}?force=true`).catch(() => {});
    await d.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
