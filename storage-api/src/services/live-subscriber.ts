/**
 * One open `events.live` stream: the device and session it belongs to, the groups it
 * currently carries, and a bounded queue of events waiting to be sent. A subscriber
 * that falls behind (more than `limit` events waiting) loses its queue, which becomes
 * one "resync" mark: the stream then sends a fresh `heads` event instead of the events
 * it dropped, and the device syncs what moved.
 */
import type { Fingerprint, GroupId, LiveEvent } from '@conclave/shared/verify';

/** In the queue: send a fresh `heads` event here (events before it were dropped). */
export const RESYNC = Symbol('resync');
export type Queued = LiveEvent | typeof RESYNC;

export type EndReason = 'session' | 'closed';

export class LiveSubscriber {
  /** Groups this stream carries: the device's current memberships as the hub last saw them. */
  readonly groups = new Set<GroupId>();
  private queue: Queued[] = [];
  private wake: (() => void) | null = null;
  private endReason: EndReason | null = null;

  constructor(
    readonly device: Fingerprint,
    readonly tokenHash: string,
    private readonly limit: number,
    /** Told once when the stream ends (a stream waiting on its socket learns its session ended). */
    private readonly onEnd?: (reason: EndReason) => void,
  ) {}

  get ended(): EndReason | null {
    return this.endReason;
  }

  /** Events waiting (a resync mark counts as one). */
  get waiting(): number {
    return this.queue.length;
  }

  push(event: LiveEvent): void {
    if (this.endReason) return;
    if (this.queue.length >= this.limit) this.queue = [RESYNC];
    else this.queue.push(event);
    this.notify();
  }

  /** Drops whatever waits: the next thing sent is a fresh `heads` event. */
  resync(): void {
    if (this.endReason) return;
    this.queue = [RESYNC];
    this.notify();
  }

  /** Ends the stream (the session ended, or the stream closed); waiting events are dropped. */
  end(reason: EndReason): void {
    if (this.endReason) return;
    this.endReason = reason;
    this.queue = [];
    this.notify();
    this.onEnd?.(reason);
  }

  /** The next queued item, waiting for one; null once the stream ended or `signal` aborted. */
  async next(signal: AbortSignal): Promise<Queued | null> {
    while (!this.endReason && !signal.aborted) {
      const item = this.queue.shift();
      if (item !== undefined) return item;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      this.wake = null;
    }
    return null;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
