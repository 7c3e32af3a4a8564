/**
 * The storage API's two request limits (docs/API.md "Limits"), per client IP and per
 * session, behind one async interface with two implementations:
 * - in memory (`REDIS_URL` unset): each process counts on its own, a fixed one-minute
 *   window per key (`WindowRateLimiter`), exactly as a single process always did;
 * - in Redis (`REDIS_URL` set): every process naming the same Redis and
 *   `CONCLAVE_REDIS_PREFIX` shares one count per key. The counting is one small Lua
 *   script with the window semantics of @fastify/rate-limit's Redis store (the count
 *   goes up, the window's expiry is set when the key is new, the remaining PTTL is
 *   returned), but it takes a cost: a tRPC batch of n calls is one INCRBY n, one
 *   command. The plugin's hook is not used, because the API's rules are not the
 *   plugin's: a batch costs one per call, and Fastify's framework errors and WebSocket
 *   messages count too.
 *
 * A Redis that cannot be reached (down, refusing, slower than `REDIS_COMMAND_TIMEOUT_MS`)
 * never fails a request: that process counts in its own memory meanwhile (the limit
 * then holds per process, as without Redis), logs one warning per outage, and goes back
 * to Redis once it answers again (tried at most once a second while it fails).
 */
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { WINDOW_MS, WindowRateLimiter } from './session-limits.ts';

/** Counts calls per key against a limit per fixed one-minute window. */
export interface RateLimiter {
  /** Calls allowed per key per window. */
  readonly limit: number;
  /**
   * Counts `cost` calls of `key` (an IP, a session token's hash) at `now`.
   * Never rejects: a failing shared store falls back to counting in memory.
   * @returns 0 when allowed, otherwise the milliseconds until the key's window ends.
   */
  hit(key: string, now: number, cost?: number): Promise<number>;
}

/** What the limits report (metrics, the log). */
export interface RateLimitEvents {
  /** A call was refused by `limit`. */
  refused?(limit: 'ip' | 'session'): void;
  /** The shared store stopped (`false`, with the error) or started again (`true`) answering. */
  sharedState?(up: boolean, error?: unknown): void;
}

/** The two limits of one app, and what closes them. */
export interface RateLimits {
  ip: RateLimiter;
  session: RateLimiter;
  /** True when counted in Redis (shared by the processes), false in this process's memory. */
  shared: boolean;
  close(): Promise<void>;
}

/** How long one Redis command may take before this process counts in memory instead. */
export const REDIS_COMMAND_TIMEOUT_MS = 250;
/** After a failure, Redis is tried again at most this often. */
const RETRY_AFTER_FAILURE_MS = 1000;
/** How long `createRateLimits` waits for a first connection before serving anyway. */
const FIRST_CONNECT_WAIT_MS = 2000;

/** The counting in this process's memory. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows: WindowRateLimiter;

  constructor(
    readonly limit: number,
    private readonly onRefused: () => void = () => undefined,
  ) {
    this.windows = new WindowRateLimiter(limit);
  }

  hit(key: string, now: number, cost = 1): Promise<number> {
    const wait = this.windows.hit(key, now, cost);
    if (wait > 0) this.onRefused();
    return Promise.resolve(wait);
  }
}

/**
 * Counts a cost against a key's fixed window: INCRBY, and PEXPIRE when the key has no
 * expiry yet (it is new: the first hit opens the window, as in @fastify/rate-limit's
 * store). Returns the count after this hit and the window's remaining milliseconds.
 */
const HIT_SCRIPT = `
  local current = redis.call('INCRBY', KEYS[1], ARGV[1])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return {current, ttl}
`;

/** The connection with the hit script defined on it (ioredis sends EVALSHA, and EVAL once if Redis lacks it). */
type CountingRedis = Redis & { conclaveRateHit(key: string, cost: number, windowMs: number): Promise<[number, number]> };

function countingRedis(redis: Redis): CountingRedis {
  const counting = redis as CountingRedis;
  if (typeof counting.conclaveRateHit !== 'function') redis.defineCommand('conclaveRateHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  return counting;
}

/** One Redis connection and whether it is fit to ask now. */
class RedisLink {
  private retryAt = 0;
  private down = false;
  /** Set by `close()`: the connection's end is not an outage. */
  closing = false;

  constructor(
    readonly redis: Redis,
    private readonly events: RateLimitEvents,
  ) {}

  /** Ready, and not inside the pause after a failure. */
  usable(): boolean {
    return this.redis.status === 'ready' && Date.now() >= this.retryAt;
  }

  failed(error: unknown): void {
    if (this.closing) return;
    this.retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
    if (this.down) return;
    this.down = true;
    this.events.sharedState?.(false, error);
  }

  answered(): void {
    if (!this.down) return;
    this.down = false;
    this.events.sharedState?.(true);
  }
}

/** The counting in Redis, shared by every process on the same Redis and prefix. */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: CountingRedis;

  constructor(
    readonly limit: number,
    private readonly link: RedisLink,
    private readonly keyPrefix: string,
    /** Where calls are counted while Redis cannot be asked. */
    private readonly fallback: MemoryRateLimiter,
    private readonly onRefused: () => void = () => undefined,
  ) {
    this.redis = countingRedis(link.redis);
  }

  async hit(key: string, now: number, cost = 1): Promise<number> {
    if (this.link.usable()) {
      try {
        // One command whatever the cost: the count after these calls and the window's remaining time.
        const [current, ttl] = await this.redis.conclaveRateHit(this.keyPrefix + key, cost, WINDOW_MS);
        this.link.answered();
        if (current <= this.limit) return 0;
        this.onRefused();
        return ttl > 0 ? ttl : WINDOW_MS;
      } catch (error) {
        this.link.failed(error);
      }
    }
    return this.fallback.hit(key, now, cost);
  }
}

/**
 * The app's limits: in Redis when `redisUrl` is set, else in memory. Waits up to 2 s for
 * a first Redis connection; an unreachable Redis is reported through `events` and the
 * app serves anyway (counting in memory until Redis answers).
 */
export async function createRateLimits(options: { limit: number; redisUrl?: string | undefined; redisPrefix: string; events?: RateLimitEvents }): Promise<RateLimits> {
  const events = options.events ?? {};
  const memory = (limit: 'ip' | 'session') => new MemoryRateLimiter(options.limit, () => events.refused?.(limit));
  if (!options.redisUrl) return { ip: memory('ip'), session: memory('session'), shared: false, close: async () => undefined };

  const redis = new Redis(options.redisUrl, {
    // A command while disconnected fails at once (and is counted in memory) instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: FIRST_CONNECT_WAIT_MS,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
  });
  const link = new RedisLink(redis, events);
  redis.on('error', (error: unknown) => link.failed(error));
  // A dropped connection may close without an error; it is an outage all the same.
  redis.on('close', () => link.failed({ name: 'RedisConnectionClosed' }));
  await Promise.race([once(redis, 'ready').catch(() => undefined), delay(FIRST_CONNECT_WAIT_MS, undefined, { ref: false })]);
  const shared = (limit: 'ip' | 'session') => new RedisRateLimiter(options.limit, link, `${options.redisPrefix}rl:${limit}:`, memory(limit), () => events.refused?.(limit));
  return {
    ip: shared('ip'),
    session: shared('session'),
    shared: true,
    async close() {
      link.closing = true;
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
