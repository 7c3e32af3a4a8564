/**
 * The event feed across API processes on one PostgreSQL database (docs/OPERATIONS.md
 * "Several API processes"): `publish` is a `pg_notify` on a pooled connection, sent
 * after the write committed; each process holds ONE dedicated connection that
 * `LISTEN`s on the schema's channel and hands every notification to its hub — its own
 * included, so a process delivers to its subscribers exactly as it does to another's.
 *
 * NOTIFY is not durable: what is sent while a process's listening connection is down
 * never reaches it. So when the connection drops (or stops answering its health
 * check) it is replaced, with backoff, and every time it listens the hub is told to
 * resync: every subscriber gets a fresh `heads` event and syncs what moved.
 *
 * A publish whose NOTIFY fails is tried once more; if that fails too, this process's
 * streams resync at once and a `resync` message is owed to every process, sent
 * before the next publish (or at the next health check) once NOTIFY works again.
 */
import type pg from 'pg';
import type { EventFeed, FeedHandlers, FeedMessage } from './event-feed.ts';
import { parseFeedMessage } from './event-feed.ts';

export interface PgFeedSource {
  readonly schema: string;
  readonly eventChannel: string;
  notify(channel: string, payload: string): Promise<void>;
  newClient(applicationName: string): pg.Client;
}

export interface PgEventFeedOptions {
  /** How often the listening connection is checked with a `SELECT 1`. */
  healthCheckMs?: number;
  /** The first reconnect delay; it doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection that listened this long before it dropped resets the backoff; a shorter one counts as a failure. */
  stableMs?: number;
  /** Told (by name and code only) when the listening connection fails or a publish is lost. */
  onTrouble?: (what: string, error: unknown) => void;
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error('invalid channel name');
  return `"${name}"`;
}

export class PgEventFeed implements EventFeed {
  private handlers: FeedHandlers | null = null;
  private closed = false;
  /** Whether the listening connection is up now. */
  private up = false;
  /** Resolves the wait of the current connection (it dropped, or the feed closes). */
  private dropped: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private wakeSleep: (() => void) | null = null;
  private readonly healthCheckMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly stableMs: number;
  /** A publish was lost: every process must resync (sent once NOTIFY works again). */
  private resyncOwed = false;

  constructor(
    private readonly source: PgFeedSource,
    private readonly options: PgEventFeedOptions = {},
  ) {
    this.healthCheckMs = options.healthCheckMs ?? 15_000;
    this.minBackoffMs = options.minBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.stableMs = options.stableMs ?? 30_000;
  }

  /** Whether the listening connection is up (tests, health). */
  get listening(): boolean {
    return this.up;
  }

  /** The application_name of the listening connection (operators see it in pg_stat_activity). */
  get applicationName(): string {
    return `conclave-listen:${this.source.schema}`;
  }

  async start(handlers: FeedHandlers): Promise<void> {
    this.handlers = handlers;
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.loop = this.listenLoop(firstAttempt);
    await attempted;
  }

  async publish(message: FeedMessage): Promise<void> {
    if (this.closed) return;
    await this.payResync();
    if (await this.notify(message)) return;
    // Lost: this process's streams resync now, every other process's once NOTIFY works again.
    this.resyncOwed = true;
    this.handlers?.resync();
  }

  /** NOTIFY, tried twice; false when both failed. */
  private async notify(message: FeedMessage): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.source.notify(this.source.eventChannel, JSON.stringify(message));
        return true;
      } catch (error) {
        this.options.onTrouble?.('publishing a live event failed', error);
      }
    }
    return false;
  }

  /** Sends the `resync` a lost publish owes every process, if any. */
  private async payResync(): Promise<void> {
    if (!this.resyncOwed || this.closed) return;
    this.resyncOwed = false;
    if (!(await this.notify({ kind: 'resync' }))) this.resyncOwed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers = null;
    this.dropped?.();
    this.wakeSleep?.();
    await this.loop;
  }

  /** Connects, listens, waits for the connection to drop, and starts again, until closed. */
  private async listenLoop(firstAttempt: () => void): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let listenedAt: number | null = null;
      const client = this.source.newClient(this.applicationName);
      let health: NodeJS.Timeout | undefined;
      try {
        const down = new Promise<void>((resolve) => {
          this.dropped = resolve;
          client.on('error', (error) => {
            this.options.onTrouble?.('the live event connection failed', error);
            resolve();
          });
          client.on('end', () => resolve());
        });
        client.on('notification', (notification) => {
          if (notification.channel !== this.source.eventChannel || notification.payload === undefined) return;
          const message = parseFeedMessage(notification.payload);
          if (message) this.handlers?.deliver(message);
        });
        await client.connect();
        await client.query(`LISTEN ${quoteIdent(this.source.eventChannel)}`);
        this.up = true;
        listenedAt = Date.now();
        // Whatever was sent while no connection listened is lost: every subscriber resyncs (each time).
        this.handlers?.resync();
        firstAttempt();
        health = setInterval(() => {
          void this.payResync();
          const check = client.query('SELECT 1');
          const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('health check timed out')), this.healthCheckMs).unref());
          Promise.race([check, timeout]).catch(() => this.dropped?.());
        }, this.healthCheckMs);
        health.unref();
        if (!this.closed) await down;
      } catch (error) {
        if (!this.closed) this.options.onTrouble?.('the live event connection failed', error);
      } finally {
        clearInterval(health);
        this.up = false;
        this.dropped = null;
        await client.end().catch(() => undefined);
      }
      firstAttempt();
      if (this.closed) break;
      // Only a connection that stayed up a while resets the backoff: one that drops at
      // once (a proxy accepting and closing) must not make every process reconnect and resync in a loop.
      failures = listenedAt !== null && Date.now() - listenedAt >= this.stableMs ? 0 : failures + 1;
      await this.sleep(this.backoff(failures));
    }
  }

  /** `minBackoffMs` after a connection that stayed up `stableMs`; while attempts fail (or drop sooner), doubling up to `maxBackoffMs`, with up to 50 % jitter. */
  private backoff(failures: number): number {
    if (failures === 0) return this.minBackoffMs;
    const base = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** (failures - 1));
    return Math.round(base * (1 + Math.random() * 0.5));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeSleep = null;
        resolve();
      }, ms);
      this.wakeSleep = () => {
        clearTimeout(timer);
        this.wakeSleep = null;
        resolve();
      };
    });
  }
}
