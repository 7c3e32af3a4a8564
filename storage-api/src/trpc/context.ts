/**
 * Per-request context: the dependencies procedures use, the bearer token if any, and
 * the caller's IP for rate limits. The session is resolved lazily by `authedProcedure`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { GroupStates } from '../services/group-states.ts';
import type { WindowRateLimiter } from '../services/session-limits.ts';
import type { Store } from '../store/types.ts';

export interface Deps {
  config: Config;
  store: Store;
  groups: GroupStates;
  /** The server's clock; tests move it. */
  now: () => number;
  /** Calls per minute per session (every call with a valid session token counts). */
  sessionLimits: WindowRateLimiter;
}

export interface Context extends Deps {
  token: string | null;
  ip: string;
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header);
  return match ? match[1]! : null;
}

export function contextFactory(deps: Deps) {
  return ({ req }: { req: FastifyRequest; res: FastifyReply }): Context => ({
    ...deps,
    token: bearerToken(req.headers.authorization),
    ip: req.ip,
  });
}
