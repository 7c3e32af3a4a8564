/**
 * The per-session rate limit (the per-IP one is @fastify/rate-limit in app.ts): a
 * fixed one-minute window per session, counted in this process. Behind a load balancer
 * each process counts on its own, so a session gets at most `limit` requests per minute
 * per process; the per-IP limit and the body limit bound the rest.
 */
const WINDOW_MS = 60_000;
/** Above this many tracked sessions, finished windows are swept before adding one. */
const SWEEP_AT = 10_000;

export class SessionRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly limit: number) {}

  /**
   * Counts one request of the session `key` (a token hash) at `now`.
   * @returns 0 when allowed, otherwise the milliseconds until the window ends.
   */
  hit(key: string, now: number): number {
    let window = this.windows.get(key);
    if (!window || now - window.start >= WINDOW_MS || now < window.start) {
      if (!window && this.windows.size >= SWEEP_AT) this.sweep(now);
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return window.count > this.limit ? window.start + WINDOW_MS - now : 0;
  }

  /** Forgets a session (on logout). */
  forget(key: string): void {
    this.windows.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (now - window.start >= WINDOW_MS) this.windows.delete(key);
  }
}
