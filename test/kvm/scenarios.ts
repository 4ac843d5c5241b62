/**
 * Runs `typevisor run` scenarios and records what happened, so the same list
 * can run on this host's /dev/kvm or inside the KVM lab's L1 (where it is
 * started as `node dist/test/kvm/scenarios.js IN.json OUT.json`).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../helpers/repo.js';
import { guestLabFault } from './guest-lab-fault.js';

export interface Scenario {
  name: string;
  /** Arguments after `typevisor run`. */
  args: string[];
  /** Bytes written to the VMM's stdin after `inputAfter` appears on stdout. */
  input?: string;
  inputAfter?: string;
  /**
   * A control-API action (PUT /actions {action_type}) sent once `after` appears on stdout; the runner adds
   * `--api-sock` with a socket under the system's temporary directory (Unix sockets cannot live on the lab's 9p share).
   */
  action?: { after: string; actionType: string };
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
  /** The HTTP status the control API gave the scenario's action, or the error sending it. */
  actionResult?: string | undefined;
  timedOut: boolean;
  /** Set when a first attempt died of a lab fault and this result is the second attempt's (runScenarios). */
  labFault?: { fault: string; stderr: string };
}

export function runScenario(s: Scenario, marker?: string): Promise<ScenarioResult> {
  const started = performance.now();
  const apiSock = s.action ? join(tmpdir(), `tv-scenario-${process.pid}-${s.name}.sock`) : undefined;
  const extra = apiSock ? ['--api-sock', apiSock] : [];
  let actionResult: string | undefined;
  let actionSent = false;
  const child = spawn(process.execPath, [join(repoRoot(), 'bin/typevisor.js'), 'run', ...extra, ...s.args], {
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
    if (s.action && apiSock && !actionSent && stdout.includes(s.action.after)) {
      actionSent = true;
      sendAction(apiSock, s.action.actionType).then((r) => (actionResult = r), (e: Error) => (actionResult = `error: ${e.message}`));
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
        actionResult,
        timedOut,
      });
    });
  });
}

/** PUT /actions on a VMM's control socket; resolves with the status line and body. */
function sendAction(socketPath: string, actionType: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ action_type: actionType });
    const req = request({ socketPath, path: '/actions', method: 'PUT', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve(`${res.statusCode ?? 0} ${text}`.trim()));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Runs the scenarios one after another. With `retryLabFaults` (inside the KVM lab), a scenario whose guest died of
 * a lab fault (guestLabFault) runs once more; the result says so in `labFault`.
 */
export async function runScenarios(
  list: Scenario[],
  marker?: string,
  retryLabFaults = false,
  run: (s: Scenario, marker?: string) => Promise<ScenarioResult> = runScenario,
): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const s of list) {
    const first = await run(s, marker);
    const fault = retryLabFaults ? guestLabFault({ ...first }) : undefined;
    if (fault === undefined) {
      out.push(first);
      continue;
    }
    process.stderr.write(`scenarios: ${s.name}: the guest died of a lab fault (${fault}); running it once more\n`);
    out.push({ ...(await run(s, marker)), labFault: { fault, stderr: first.stderr.slice(-2000) } });
  }
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
  // Run here by the KVM lab's L1 (TYPEVISOR_LAB_L1=1): see guest-lab-fault.ts.
  const results = await runScenarios(list, marker, process.env['TYPEVISOR_LAB_L1'] === '1');
  writeFileSync(output, JSON.stringify(results, null, 2));
}
