/**
 * Things open at once per key (WebSocket connections per client IP), counted in this
 * process, with a cap: `open` refuses past it, `close` gives the place back.
 */
export class OpenCounter {
  private readonly counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Takes a place for `key`; false (nothing taken) when `limit` are already open. */
  open(key: string): boolean {
    const count = this.counts.get(key) ?? 0;
    if (count >= this.limit) return false;
    this.counts.set(key, count + 1);
    return true;
  }

  close(key: string): void {
    const count = this.counts.get(key) ?? 0;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }

  /** How many are open for `key`. */
  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
