/**
 * Storage API config for the live benches: every bench client is on 127.0.0.1 and some
 * benches hold thousands of streams, so the per-IP WebSocket limit and the per-IP and
 * per-session request rate are raised out of the way (their defaults protect a real
 * server; docs/OPERATIONS.md). Streams per session stay at their default: each bench
 * device opens one stream.
 */
import type { Config } from '../../storage-api/src/config.ts';

export const LIVE_LIMITS_RAISED: Partial<Config> = {
  rateLimitPerMinute: 1_000_000_000,
  liveSocketsPerIp: 1_000_000,
};
