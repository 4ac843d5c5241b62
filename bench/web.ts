/**
 * Web UI benchmark (not a test): `npm run bench:web`.
 *  - Time to interactive of the dashboard and of the VM list with 100 VMs defined, in headless Chromium:
 *    navigation start -> the page shows its data (dashboard: VM counts and the four charts; list: all 100 rows),
 *    and TTI = the later of that and the end of the last long task (PerformanceObserver 'longtask').
 *    First load with an empty cache ("cold") and the median of 5 reloads with hashed assets cached ("warm").
 *  - Bundle size: every file of web/dist, raw and gzip (what loads first vs the lazily loaded console).
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureKernels } from '../src/lab/artifacts.js';
import { apiCall, ensureUiBuilt, launchBrowser, REPO, startWebDaemon } from '../test/web/harness.js';

const VMS = 100;
const RUNS = 5;

/** Installed before any page script: records long tasks for the TTI figure. */
const LONG_TASK_PROBE = `
  window.__longTaskEnd = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTaskEnd = Math.max(window.__longTaskEnd, e.startTime + e.duration);
    }).observe({ type: 'longtask', buffered: true });
  } catch {}
`;

interface Timing { dcl: number; ready: number; tti: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function bundleSizes(): { file: string; raw: number; gzip: number }[] {
  const dir = join(REPO, 'web', 'dist');
  const out: { file: string; raw: number; gzip: number }[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!/\.(gz|br)$/.test(name)) {
        const bytes = readFileSync(p);
        out.push({ file: p.slice(dir.length + 1), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
      }
    }
  };
  walk(dir);
  return out;
}

async function main(): Promise<void> {
  ensureUiBuilt();
  const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
  const files = bundleSizes();
  const html = readFileSync(join(REPO, 'web', 'dist', 'index.html'), 'utf8');
  const initial = files.filter((f) => f.file === 'index.html' || html.includes(f.file));
  console.log('bundle (web/dist):');
  for (const f of files) console.log(`  ${f.file.padEnd(36)} ${kib(f.raw).padStart(10)}  gzip ${kib(f.gzip).padStart(9)}${initial.includes(f) ? '  (initial)' : '  (lazy)'}`);
  const sum = (xs: typeof files, k: 'raw' | 'gzip'): number => xs.reduce((a, f) => a + f[k], 0);
  console.log(`  initial load: ${kib(sum(initial, 'raw'))}, gzip ${kib(sum(initial, 'gzip'))}; everything: ${kib(sum(files, 'raw'))}, gzip ${kib(sum(files, 'gzip'))}`);

  const kernels = await ensureKernels();
  const daemon = await startWebDaemon();
  const browser = await launchBrowser();
  try {
    for (let i = 0; i < VMS; i++) {
      const r = await apiCall(daemon, daemon.token, 'POST', '/api/v1/vms', {
        name: `bench-${String(i).padStart(3, '0')}`, engine: 'qemu', vcpus: 1 + (i % 4), memoryMiB: 128 * (1 + (i % 8)),
        boot: { kernel: kernels.cloud.bzImage, cmdline: 'console=ttyS0' },
      });
      if (r.status !== 201) throw new Error(`defining VM ${i}: ${JSON.stringify(r.json)}`);
    }
    await browser.context.addInitScript(LONG_TASK_PROBE);
    const setup = await browser.context.newPage();
    await setup.goto(daemon.url + '/');
    await setup.evaluate(`localStorage.setItem('typevisor.session', ${JSON.stringify(JSON.stringify({ token: daemon.token, name: 'admin', role: 'admin', kind: 'token' }))})`);
    await setup.close();

    const measure = async (path: string, readyExpr: string): Promise<Timing> => {
      const page = await browser.context.newPage();
      await page.goto(daemon.url + path, { waitUntil: 'commit' });
      await page.waitForFunction(readyExpr, undefined, { timeout: 30_000, polling: 'raf' });
      const ready = (await page.evaluate('performance.now()')) as number;
      // Quiet window after readiness: a long task that still happens would push TTI out.
      await page.waitForTimeout(1000);
      const t = (await page.evaluate(`(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { dcl: n.domContentLoadedEventEnd, longTaskEnd: window.__longTaskEnd };
      })()`)) as { dcl: number; longTaskEnd: number };
      await page.close();
      return { dcl: t.dcl, ready, tti: Math.max(ready, t.longTaskEnd) };
    };

    const pages: [string, string, string][] = [
      ['dashboard', '/', `(() => { const c = document.querySelector('[data-testid=vm-counts]'); return !!c && c.textContent.includes('${VMS}') && document.querySelectorAll('.chart canvas').length === 4; })()`],
      ['VM list (100 VMs)', '/vms', `document.querySelectorAll('tr[data-vm]').length === ${VMS}`],
    ];
    console.log(`\ntime to interactive (ms since navigation start; Chromium headless; ${VMS} VMs defined):`);
    for (const [label, path, ready] of pages) {
      // Cold: a new browser cache for the first load of this page.
      await browser.context.clearCookies();
      const cdp = await browser.context.newCDPSession(await browser.context.newPage());
      await cdp.send('Network.clearBrowserCache');
      const cold = await measure(path, ready);
      const warm: Timing[] = [];
      for (let i = 0; i < RUNS; i++) warm.push(await measure(path, ready));
      const f = (x: number): string => x.toFixed(0).padStart(5);
      console.log(`  ${label.padEnd(20)} cold: DOMContentLoaded ${f(cold.dcl)}  data shown ${f(cold.ready)}  TTI ${f(cold.tti)}`);
      console.log(`  ${''.padEnd(20)} warm (median of ${RUNS}): DOMContentLoaded ${f(median(warm.map((w) => w.dcl)))}  data shown ${f(median(warm.map((w) => w.ready)))}  TTI ${f(median(warm.map((w) => w.tti)))}`);
    }
  } finally {
    await browser.close();
    await daemon.stop();
    rmSync(daemon.dataDir, { recursive: true, force: true });
  }
}

await main();
