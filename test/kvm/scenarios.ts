/**
 * Runs `typevisor run` scenarios and records what happened, so the same list
 * can run on this host's /dev/kvm or inside the KVM lab's L1 (where it is
 * started as `node dist/test/kvm/scenarios.js IN.json OUT.json`).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../helpers/repo.js';

export interface Scenario {
  name: string;
  /** Arguments after `typevisor run`. */
  args: string[];
  /** Bytes written to the VMM's stdin after `inputAfter` appears on stdout. */
  input?: string;
  inputAfter?: string;
  timeoutMs: number;
}

export interface ScenarioResult {
  name: string;
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Milliseconds from spawn until `marker` first appeared on stdout, if given. */
  markerMs?: number | undefined;
  timedOut: boolean;
}

export function runScenario(s: Scenario, marker?: string): Promise<ScenarioResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(repoRoot(), 'bin/typevisor.js'), 'run', ...s.args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markerMs: number | undefined;
  let inputSent = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('latin1');
    if (marker && markerMs === undefined && stdout.includes(marker)) markerMs = performance.now() - started;
    if (s.input !== undefined && !inputSent && (!s.inputAfter || stdout.includes(s.inputAfter))) {
      inputSent = true;
      child.stdin.write(s.input);
    }
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.on('error', () => undefined);
  let timedOut = false;
  // On timeout: SIGTERM first (the VMM then prints its vCPUs' registers and last exits), SIGKILL later.
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  }, s.timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({
        name: s.name,
        status,
        signal,
        stdout,
        stderr,
        durationMs: performance.now() - started,
        markerMs,
        timedOut,
      });
    });
  });
}

export async function runScenarios(list: Scenario[], marker?: string): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const s of list) out.push(await runScenario(s, marker));
  return out;
}

// CLI: node dist/test/kvm/scenarios.js IN.json OUT.json [MARKER]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output, marker] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: scenarios.js IN.json OUT.json [MARKER]\n');
    process.exit(2);
  }
  const list = JSON.parse(readFileSync(input, 'utf8')) as Scenario[];
  const results = await runScenarios(list, marker);
  writeFileSync(output, JSON.stringify(results, null, 2));
}
