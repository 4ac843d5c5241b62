/**
 * The on-crash restart policy's backoff: restart after 1 s, 2 s, 4 s ... (at
 * most 60 s); after MAX_CRASHES crashes within WINDOW_MS it gives up, so a VM
 * that can never boot does not spin forever.
 */
export const MAX_CRASHES = 5;
export const WINDOW_MS = 10 * 60 * 1000;
const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 60_000;

export class RestartPolicyTracker {
  private readonly history = new Map<string, number[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly restart: (id: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record a crash; schedules a restart, or returns why it gave up. */
  crashed(id: string): string | null {
    const t = this.now();
    const recent = (this.history.get(id) ?? []).filter((x) => t - x < WINDOW_MS);
    recent.push(t);
    this.history.set(id, recent);
    if (recent.length > MAX_CRASHES) {
      return `restart policy gave up after ${MAX_CRASHES} crashes within ${WINDOW_MS / 60000} minutes`;
    }
    const delay = this.delayFor(recent.length);
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.restart(id);
    }, delay);
    timer.unref();
    this.timers.set(id, timer);
    return null;
  }

  delayFor(crashCount: number): number {
    return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (crashCount - 1));
  }

  forget(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    this.history.delete(id);
  }

  cancelAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
