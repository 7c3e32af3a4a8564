/**
 * Signaling server configuration, parsed once from the environment with zod and
 * passed into `build()` (same style as storage-api/src/config.ts).
 */
import { z } from 'zod';

/** One ICE server as RTCPeerConnection takes it (STUN/TURN, e.g. coturn). */
const iceServerSchema = z.object({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});

const iceServersSchema = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value; // zod then reports "expected array"
  }
}, z.array(iceServerSchema).max(16));

const configSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(9000),
  /** Mount path of the PeerJS server; clients use the same `path` option. */
  path: z.string().regex(/^\/[A-Za-z0-9/_-]*$/).default('/peerjs'),
  /** How far a registration token's `at` may be from the server clock, either way. */
  tokenMaxAgeMs: z.coerce.number().int().min(1000).default(60_000),
  /** Largest relayed message (bytes of the JSON frame); larger ones are dropped. */
  maxMessageBytes: z.coerce.number().int().min(256).max(1024 * 1024).default(16 * 1024),
  /** Messages per second per connection (token bucket; burst = 2 × this). */
  messagesPerSecond: z.coerce.number().int().min(1).default(50),
  /** Messages per second per client IP, over all its connections. */
  messagesPerSecondPerIp: z.coerce.number().int().min(1).default(200),
  /** Registration attempts (WebSocket upgrades) per minute per client IP; beyond: 429. */
  registrationsPerMinutePerIp: z.coerce.number().int().min(1).default(120),
  /** Most sockets (open, or being registered) one client IP may hold at once; beyond: 429. */
  socketsPerIp: z.coerce.number().int().min(1).default(100),
  /** Presence requests per minute per client IP; beyond: 429 (before any signature is checked). */
  presencePerMinutePerIp: z.coerce.number().int().min(1).default(120),
  /** Most simultaneous peers. */
  concurrentLimit: z.coerce.number().int().min(1).default(5000),
  /** Handed to clients by GET <path>/config; [] is enough on loopback. */
  iceServers: iceServersSchema.default([]),
  /**
   * unset: one node, everything in this process (as before). redis://… : several nodes
   * share this Redis for presence, cross-node relay and single-use tokens (cluster.ts).
   */
  redisUrl: z
    .string()
    .url()
    .refine((url) => /^rediss?:\/\//.test(url), 'must be a redis:// or rediss:// URL')
    .optional(),
  /** Prefix of every Redis key and channel of this deployment (nodes that share it form one cluster). */
  redisPrefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/).default('conclave:signal:'),
  /** How long a node's claim on a peer id lives in Redis unless refreshed (every third of it): a killed node's peers read as offline after at most this. */
  presenceTtlMs: z.coerce.number().int().min(1000).max(600_000).default(15_000),
  /** Serve GET /metrics (Prometheus text) on this port, on its own listener; unset, no metrics listener. */
  metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Address of the metrics listener: loopback unless the operator opens it on purpose. */
  metricsHost: z.string().default('127.0.0.1'),
});

export type Config = z.infer<typeof configSchema>;

/** Reads `CONCLAVE_SIGNAL_*` variables and `REDIS_URL`; anything unset or empty takes its default. */
export function loadConfig(rawEnv: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = configSchema.safeParse({
    host: env.CONCLAVE_SIGNAL_HOST,
    port: env.CONCLAVE_SIGNAL_PORT,
    path: env.CONCLAVE_SIGNAL_PATH,
    tokenMaxAgeMs: env.CONCLAVE_SIGNAL_TOKEN_MAX_AGE_MS,
    maxMessageBytes: env.CONCLAVE_SIGNAL_MAX_MESSAGE_BYTES,
    messagesPerSecond: env.CONCLAVE_SIGNAL_MESSAGES_PER_SECOND,
    messagesPerSecondPerIp: env.CONCLAVE_SIGNAL_MESSAGES_PER_SECOND_PER_IP,
    registrationsPerMinutePerIp: env.CONCLAVE_SIGNAL_REGISTRATIONS_PER_MINUTE_PER_IP,
    socketsPerIp: env.CONCLAVE_SIGNAL_SOCKETS_PER_IP,
    presencePerMinutePerIp: env.CONCLAVE_SIGNAL_PRESENCE_PER_MINUTE_PER_IP,
    concurrentLimit: env.CONCLAVE_SIGNAL_CONCURRENT_LIMIT,
    iceServers: env.CONCLAVE_SIGNAL_ICE_SERVERS,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.CONCLAVE_SIGNAL_REDIS_PREFIX,
    presenceTtlMs: env.CONCLAVE_SIGNAL_PRESENCE_TTL_MS,
    metricsPort: env.CONCLAVE_SIGNAL_METRICS_PORT,
    metricsHost: env.CONCLAVE_SIGNAL_METRICS_HOST,
    ...overrides,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`configuration is invalid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}
