/**
 * Configuration, parsed once from the environment with zod and passed into `build()`.
 * Every variable is documented in docs/OPERATIONS.md.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** proxy-addr's names for ranges (Fastify's `trustProxy`), besides addresses and CIDRs. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Whether `entry` is an IP address, a CIDR range (`10.0.0.0/8`) or a range name. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined || !address || !isIP(address)) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128));
}

const configSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8787),
  /** Where the SQLite file lives when no DATABASE_URL is given. */
  dataDir: z.string().default('.data'),
  /** postgres://… to use PostgreSQL instead of SQLite. */
  databaseUrl: z.string().url().optional(),
  /** PostgreSQL schema to use (tests give each run its own). */
  databaseSchema: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('public'),
  /** Largest request body in bytes. */
  bodyLimit: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  /** Largest note body (plaintext bytes; the ciphertext may be 28 bytes more). */
  noteMaxBytes: z.coerce.number().int().min(1).max(1024 * 1024).default(1024 * 1024),
  sessionTtlMs: z.coerce.number().int().min(1000).default(60 * 60 * 1000),
  challengeTtlMs: z.coerce.number().int().min(1000).default(2 * 60 * 1000),
  /** How far an entry's `at` may be from the server's clock when appended. */
  clockSkewMs: z.coerce.number().int().min(0).default(5 * 60 * 1000),
  /** Requests per minute, per session and per IP. */
  rateLimitPerMinute: z.coerce.number().int().min(1).default(6000),
  /** The whole request (head and body) must arrive within this, or 408. */
  requestTimeoutMs: z.coerce.number().int().min(100).default(30_000),
  /** The request head must arrive within this (at most `requestTimeoutMs`), or 408. */
  headersTimeoutMs: z.coerce.number().int().min(100).default(10_000),
  /** A connection with no traffic for this long (between or before requests) is closed. */
  idleTimeoutMs: z.coerce.number().int().min(100).default(30_000),
  /** Open live streams (`events.live`) per session, in each process. */
  liveStreamsPerSession: z.coerce.number().int().min(1).default(4),
  /** Open WebSocket connections per client IP, in each process. */
  liveSocketsPerIp: z.coerce.number().int().min(1).default(64),
  /** The server sends `PING` on a WebSocket quiet for this long… */
  livePingMs: z.coerce.number().int().min(100).default(30_000),
  /** …and closes it when nothing comes back within this. */
  livePongWaitMs: z.coerce.number().int().min(100).default(10_000),
  /** A WebSocket carrying no running subscription for this long is closed (4408). */
  liveIdleSocketMs: z.coerce.number().int().min(100).default(30_000),
  /**
   * redis://… : the rate limits are counted in this Redis, shared by every process
   * that names it; unset, each process counts in its own memory.
   */
  redisUrl: z.string().url().refine((url) => /^rediss?:\/\//.test(url), 'must be a redis:// or rediss:// URL').optional(),
  /** Prefix of every Redis key this deployment writes (deployments sharing a Redis give each their own). */
  redisPrefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/).default('conclave:'),
  /**
   * The load balancers or proxies in front of the API (addresses, CIDR ranges, or
   * `loopback`/`linklocal`/`uniquelocal`, comma-separated): a request from one of them is
   * taken to come from the client its `X-Forwarded-For` names (for the per-IP limits and
   * the log). Unset: the TCP peer is the client.
   */
  trustProxy: z
    .union([z.string().transform((list) => list.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')), z.array(z.string())])
    .refine((entries) => entries.length > 0 && entries.every(isProxyEntry), 'must list IP addresses, CIDR ranges (10.0.0.0/8) or loopback/linklocal/uniquelocal, comma-separated')
    .optional(),
  /** Serve GET /metrics (Prometheus text) on this port, on its own listener; unset, no metrics listener. */
  metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Address of the metrics listener: loopback unless the operator opens it on purpose. */
  metricsHost: z.string().default('127.0.0.1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `pretty`: one readable line per request; `json`: one JSON object per line; `auto`: pretty in a terminal. */
  logFormat: z.enum(['auto', 'pretty', 'json']).default('auto'),
}).refine((config) => config.metricsPort === undefined || config.metricsPort === 0 || config.metricsPort !== config.port, {
  path: ['metricsPort'],
  message: 'must differ from the API port: metrics are never served on the API port',
});

export type Config = z.infer<typeof configSchema>;

/** Reads `CONCLAVE_*` variables (and `DATABASE_URL`); anything unset takes its default. */
export function loadConfig(rawEnv: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  // An empty variable means "unset": CONCLAVE_HOST= must not mean "every interface".
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = configSchema.safeParse({
    host: env.CONCLAVE_HOST,
    port: env.CONCLAVE_PORT ?? env.PORT,
    dataDir: env.CONCLAVE_DATA_DIR,
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.CONCLAVE_DB_SCHEMA,
    bodyLimit: env.CONCLAVE_BODY_LIMIT,
    noteMaxBytes: env.CONCLAVE_NOTE_MAX_BYTES,
    sessionTtlMs: env.CONCLAVE_SESSION_TTL_MS,
    challengeTtlMs: env.CONCLAVE_CHALLENGE_TTL_MS,
    clockSkewMs: env.CONCLAVE_CLOCK_SKEW_MS,
    rateLimitPerMinute: env.CONCLAVE_RATE_LIMIT_PER_MINUTE,
    requestTimeoutMs: env.CONCLAVE_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: env.CONCLAVE_HEADERS_TIMEOUT_MS,
    idleTimeoutMs: env.CONCLAVE_IDLE_TIMEOUT_MS,
    liveStreamsPerSession: env.CONCLAVE_LIVE_STREAMS_PER_SESSION,
    liveSocketsPerIp: env.CONCLAVE_LIVE_SOCKETS_PER_IP,
    livePingMs: env.CONCLAVE_LIVE_PING_MS,
    livePongWaitMs: env.CONCLAVE_LIVE_PONG_WAIT_MS,
    liveIdleSocketMs: env.CONCLAVE_LIVE_IDLE_SOCKET_MS,
    trustProxy: env.CONCLAVE_TRUST_PROXY,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.CONCLAVE_REDIS_PREFIX,
    metricsPort: env.CONCLAVE_METRICS_PORT,
    metricsHost: env.CONCLAVE_METRICS_HOST,
    logLevel: env.CONCLAVE_LOG_LEVEL,
    logFormat: env.CONCLAVE_LOG_FORMAT,
    ...overrides,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`configuration is invalid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}
