/**
 * Runs and supervises one dnsmasq per network. dnsmasq stays in the
 * foreground as our child; if it dies it is restarted with a growing delay.
 * A dnsmasq left behind by an earlier daemon (kill -9) is found through its
 * pid file, checked against /proc/<pid>/cmdline, and replaced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { dnsmasqConfig, type DnsmasqConfigInput } from './dnsmasq-config.js';

export interface DnsmasqPaths {
  conf: string;
  leases: string;
  pid: string;
  log: string;
}

export function dnsmasqPaths(dir: string): DnsmasqPaths {
  return {
    conf: path.join(dir, 'dnsmasq.conf'),
    leases: path.join(dir, 'leases'),
    pid: path.join(dir, 'dnsmasq.pid'),
    log: path.join(dir, 'dnsmasq.log'),
  };
}

async function killStale(paths: DnsmasqPaths): Promise<void> {
  let pid: number;
  try {
    pid = Number((await fs.readFile(paths.pid, 'utf8')).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    if (cmdline[0]?.endsWith('dnsmasq') && cmdline.includes(`--conf-file=${paths.conf}`)) process.kill(pid, 'SIGTERM');
  } catch {
    // not running
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class DnsmasqSupervisor {
  private child: ChildProcess | null = null;
  private stopping = false;
  private restartDelayMs = 500;
  private restartTimer: NodeJS.Timeout | null = null;
  readonly paths: DnsmasqPaths;

  constructor(
    private readonly config: Omit<DnsmasqConfigInput, 'leaseFile' | 'pidFile'>,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.paths = dnsmasqPaths(config.dir);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the config and starts dnsmasq; resolves once it is listening (pid file written) or rejects with its log. */
  async start(): Promise<void> {
    this.stopping = false;
    await fs.mkdir(this.config.dir, { recursive: true });
    await killStale(this.paths);
    await fs.writeFile(this.paths.conf, dnsmasqConfig({ ...this.config, leaseFile: this.paths.leases, pidFile: this.paths.pid }));
    await fs.rm(this.paths.pid, { force: true });
    await this.spawnOnce();
  }

  private async spawnOnce(): Promise<void> {
    const logFd = openSync(this.paths.log, 'a');
    const child = spawn('dnsmasq', [`--conf-file=${this.paths.conf}`], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    this.child = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopping) return;
      this.log(`dnsmasq for ${this.config.bridge} exited (code ${code}, signal ${signal}); restarting in ${this.restartDelayMs} ms`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopping) this.spawnOnce().catch((err: Error) => this.log(`dnsmasq restart failed: ${err.message}`));
      }, this.restartDelayMs);
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, 30_000);
    });
    const ready = (async () => {
      for (let i = 0; i < 250; i++) {
        try {
          await fs.access(this.paths.pid);
          return true;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      return false;
    })();
    const outcome = await Promise.race([ready, exited.then(() => 'exited' as const)]);
    if (outcome !== true) {
      const text = await fs.readFile(this.paths.log, 'utf8').catch(() => '');
      const tail = text.trim().split('\n').slice(-3).join(' | ');
      if (outcome !== 'exited') child.kill('SIGKILL');
      this.stopping = true;
      throw new Error(`dnsmasq for ${this.config.bridge} did not start: ${tail || 'no output'}`);
    }
    this.restartDelayMs = 500;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}
