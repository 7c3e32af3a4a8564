/**
 * A fixed one-minute window per key, counted in this process's memory: the in-memory
 * side of services/rate-limits.ts (the per-IP and per-session limits of docs/API.md
 * "Limits"), used when `REDIS_URL` is unset and, with Redis, while Redis cannot be
 * reached.
 */
/** The length of every rate-limit window. */
export const WINDOW_MS = 60_000;
/** Above this many tracked keys, finished windows are swept before adding one. */
const SWEEP_AT = 10_000;
/** Never more keys than this: when every window is live, the oldest key is forgotten. */
const MAX_KEYS = 100_000;

export class WindowRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private lastSweep = -Infinity;

  constructor(
    readonly limit: number,
    private readonly maxKeys = MAX_KEYS,
  ) {}

  /**
   * Counts `cost` requests of `key` (a token hash, an IP) at `now`.
   * @returns 0 when allowed, otherwise the milliseconds until the window ends.
   */
  hit(key: string, now: number, cost = 1): number {
    let window = this.windows.get(key);
    if (!window || now - window.start >= WINDOW_MS || now < window.start) {
      // Sweeping is linear in the keys: at most once a second, whatever the traffic.
      if (!window && this.windows.size >= SWEEP_AT && now - this.lastSweep >= 1000) this.sweep(now);
      if (!window && this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
      window = { start: now, count: 0 };
      this.windows.delete(key);
      this.windows.set(key, window);
    }
    window.count += cost;
    return window.count > this.limit ? window.start + WINDOW_MS - now : 0;
  }

  /** Forgets a key (a session, on logout). */
  forget(key: string): void {
    this.windows.delete(key);
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, window] of this.windows) if (now - window.start >= WINDOW_MS) this.windows.delete(key);
  }
}
