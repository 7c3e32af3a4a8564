/**
 * Several signaling nodes sharing one Redis (docs/OPERATIONS.md "The signaling server").
 * Only built when `REDIS_URL` is set; without it app.ts runs as a single node.
 *
 * Keys and channels, all under the configured prefix P:
 * - `P peer:<id>` → the node id holding that peer's socket, with a time to live
 *   (`presenceTtlMs`) that the node refreshes every third of it. A node that dies
 *   (even `kill -9`) stops refreshing: its peers read as offline once their entries expire.
 * - `P nonce:<kind>:<id>:<nonce>`, SET NX with twice the token lifetime: a token is
 *   accepted by one node only, once.
 * - channel `P node:<node id>`: frames for peers on that node, already checked and
 *   with `src` set by the node their sender is connected to. One channel per node (not
 *   per peer): a node subscribes once at start instead of once per registration, and
 *   Redis holds as many channels as there are nodes, not peers.
 *
 * Redis unreachable: every call answers 'unavailable' at once (no offline queue), the
 * state changes are logged once each way, and app.ts decides what a user sees. Redis
 * connected but silent: every call answers 'unavailable' after REDIS_COMMAND_TIMEOUT_MS.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** What a claim on a peer id found. */
export type ClaimResult = 'claimed' | 'taken' | 'unavailable';

export interface ClusterOptions {
  redisUrl: string;
  prefix: string;
  presenceTtlMs: number;
  log: (line: string) => void;
  /** Called for each Redis error (for the metric), whether or not it changes the state. */
  onRedisError?: () => void;
  /** Called when Redis becomes reachable (true) or unreachable (false). */
  onAvailability?: (up: boolean) => void;
}

// Claim or refresh: set the key to this node unless another node holds it.
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
// Refresh many: the same rule for every key given.
const REFRESH = `local n = 0
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == false or v == ARGV[1] then redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) n = n + 1 end
end
return n`;
// Release: delete only this node's own claim (a newer claim by another node stays).
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const REFRESH_CHUNK = 500;
/** A Redis that accepts and never answers: each call ends 'unavailable' after this long instead of hanging. */
const REDIS_COMMAND_TIMEOUT_MS = 300;
/** How long close() waits for its releases (their entries expire anyway). */
const CLOSE_RELEASE_WAIT_MS = 500;

/** This node's view of the cluster: presence directory, shared nonces and the relay channel. */
export class Cluster {
  /** A fresh id per process: a restarted node never inherits a dead node's claims. */
  readonly nodeId = randomUUID();
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #options: ClusterOptions;
  /** undefined until the first connection succeeds or fails, so that either is logged. */
  #up: boolean | undefined;
  #subscribed = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #onFrame: (text: string) => void = () => {};
  #claimed: () => Iterable<string> = () => [];
  #closing = false;

  constructor(options: ClusterOptions) {
    this.#options = options;
    const connection = {
      // Fail at once while disconnected rather than queue: callers answer 'unavailable'.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      lazyConnect: false,
    };
    this.#redis = new Redis(options.redisUrl, { ...connection, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
    // The subscriber keeps its offline queue (and no command timeout) so that SUBSCRIBE waits for the connection.
    this.#subscriber = new Redis(options.redisUrl, { ...connection, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const client of [this.#redis, this.#subscriber]) {
      client.on('error', (error: Error & { code?: string }) => {
        options.onRedisError?.();
        this.#setUp(false, error.code ?? error.message);
      });
      client.on('close', () => {
        // A connection lost (not closed by us) is an error too: nothing else reports a clean cut.
        if (this.#closing) return;
        options.onRedisError?.();
        this.#setUp(false, 'connection closed');
      });
    }
    // Up only once both connections are ready and subscribed (#setUp checks); ioredis
    // re-subscribes by itself after a reconnect, the first time we ask below.
    this.#redis.on('ready', () => this.#setUp(true, 'ready'));
    this.#subscriber.on('ready', () => this.#setUp(true, 'ready'));
    this.#subscriber.on('message', (_channel: string, text: string) => this.#onFrame(text));
    this.#subscriber
      .subscribe(this.channelOf(this.nodeId))
      .then(() => {
        this.#subscribed = true;
        this.#setUp(true, 'subscribed');
      })
      .catch(() => options.onRedisError?.());
  }

  /** True while both connections are ready: registrations and cross-node relays work. */
  get up(): boolean {
    return this.#up === true;
  }

  #setUp(up: boolean, why: string): void {
    if (up && !(this.#redis.status === 'ready' && this.#subscriber.status === 'ready' && this.#subscribed)) return;
    if (up === this.#up) return;
    this.#up = up;
    this.#options.log(
      up
        ? `signaling: Redis reachable (node ${this.nodeId}): registrations, presence and relays to other nodes work`
        : `signaling: Redis unreachable (${why}): registrations and presence are refused 503 busy and frames to other nodes dropped until it is back; peers already connected here keep relaying to each other`,
    );
    this.#options.onAvailability?.(up);
    if (up) void this.#beat();
  }

  channelOf(nodeId: string): string {
    return `${this.#options.prefix}node:${nodeId}`;
  }

  #peerKey(id: string): string {
    return `${this.#options.prefix}peer:${id}`;
  }

  /** Frames published to this node (raw JSON text). */
  onFrame(handler: (text: string) => void): void {
    this.#onFrame = handler;
  }

  /** Wraps a Redis call: 'unavailable' (and counted) when it fails or Redis is down. */
  async #call<T>(run: () => Promise<T>): Promise<T | 'unavailable'> {
    if (this.#up !== true) return 'unavailable';
    try {
      return await run();
    } catch {
      this.#options.onRedisError?.();
      return 'unavailable';
    }
  }

  /** Records a token's nonce for the whole cluster: 'replayed' if any node saw it already. */
  async consumeNonce(key: string, ttlMs: number): Promise<'added' | 'replayed' | 'unavailable'> {
    const result = await this.#call(() => this.#redis.set(`${this.#options.prefix}nonce:${key}`, '1', 'PX', ttlMs, 'NX'));
    if (result === 'unavailable') return result;
    return result === 'OK' ? 'added' : 'replayed';
  }

  /** Claims `id` for this node unless another node holds it. */
  async claim(id: string): Promise<ClaimResult> {
    const result = await this.#call(() => this.#redis.eval(CLAIM, 1, this.#peerKey(id), this.nodeId, this.#options.presenceTtlMs));
    if (result === 'unavailable') return result;
    return result === 1 ? 'claimed' : 'taken';
  }

  /** Gives up this node's claim on `id` (its socket closed). */
  async release(id: string): Promise<void> {
    await this.#call(() => this.#redis.eval(RELEASE, 1, this.#peerKey(id), this.nodeId));
  }

  /** The node holding `id`, null when no node does. */
  async locate(id: string): Promise<string | null | 'unavailable'> {
    return this.#call(() => this.#redis.get(this.#peerKey(id)));
  }

  /** Which of `ids` some node holds right now. */
  async online(ids: string[]): Promise<Set<string> | 'unavailable'> {
    if (ids.length === 0) return new Set();
    const nodes = await this.#call(() => this.#redis.mget(ids.map((id) => this.#peerKey(id))));
    if (nodes === 'unavailable') return nodes;
    return new Set(ids.filter((_, i) => nodes[i] !== null));
  }

  /** Sends an already checked frame to the node holding its destination. */
  async publish(nodeId: string, text: string): Promise<boolean> {
    const result = await this.#call(() => this.#redis.publish(this.channelOf(nodeId), text));
    return result !== 'unavailable';
  }

  /**
   * Keeps this node's claims alive: every third of the time to live, and at once when
   * Redis comes back (its entries may have expired meanwhile), re-sets each of `ids()`.
   */
  startHeartbeat(ids: () => Iterable<string>): void {
    this.#claimed = ids;
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(250, Math.floor(this.#options.presenceTtlMs / 3)));
    this.#heartbeat.unref();
  }

  async #beat(): Promise<void> {
    if (this.#up !== true) return;
    const keys = [...this.#claimed()].map((id) => this.#peerKey(id));
    for (let i = 0; i < keys.length; i += REFRESH_CHUNK) {
      const chunk = keys.slice(i, i + REFRESH_CHUNK);
      await this.#call(() => this.#redis.eval(REFRESH, chunk.length, ...chunk, this.nodeId, this.#options.presenceTtlMs));
    }
  }

  /** Stops the heartbeat, releases `releaseIds` (this node's peers) and disconnects. */
  async close(releaseIds: Iterable<string> = []): Promise<void> {
    clearInterval(this.#heartbeat);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...releaseIds].map((id) => this.release(id))), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_RELEASE_WAIT_MS)))]);
    clearTimeout(timer);
    this.#closing = true;
    this.#up = false;
    this.#redis.disconnect();
    this.#subscriber.disconnect();
  }
}
