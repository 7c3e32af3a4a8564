/**
 * Per-request context: the dependencies procedures use, the session token if any, and
 * the caller's IP for rate limits. The session is resolved lazily by `authedProcedure`.
 *
 * Over HTTP the token is the `Authorization: Bearer …` header; over the WebSocket at
 * `/trpc` (the live stream, docs/API.md "Live events") it is `connectionParams.token`,
 * sent in the connection's first message, never in the URL. A WebSocket's context is
 * made once per connection.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { TRPCRequestInfo } from '@trpc/server/http';
import type { Config } from '../config.ts';
import type { EventFeed } from '../services/event-feed.ts';
import type { GroupStates } from '../services/group-states.ts';
import type { LiveHub } from '../services/live-hub.ts';
import type { RateLimiter } from '../services/rate-limits.ts';
import type { Store } from '../store/types.ts';

export interface Deps {
  config: Config;
  store: Store;
  groups: GroupStates;
  /** The server's clock; tests move it. */
  now: () => number;
  /** Calls per minute per session (every call with a valid session token counts), in memory or shared through Redis. */
  sessionLimits: RateLimiter;
  /** Where writes announce what moved, for every process's live streams. */
  feed: EventFeed;
  /** This process's live streams. */
  live: LiveHub;
}

export interface Context extends Deps {
  token: string | null;
  ip: string;
  /** How the call arrived: only `events.live` is served over the WebSocket, and only there. */
  transport: 'http' | 'ws';
  /** The WebSocket a live stream runs on (closed when its session ends), else null. */
  socket: WebSocket | null;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header);
  return match ? match[1]! : null;
}

/** The token a WebSocket connection sent in its `connectionParams`, if well formed. */
export function connectionToken(params: TRPCRequestInfo['connectionParams']): string | null {
  const token = params?.token;
  return typeof token === 'string' && TOKEN.test(token) ? token : null;
}

type ContextOptions =
  | { req: FastifyRequest; res: FastifyReply; info: TRPCRequestInfo }
  | { req: IncomingMessage; res: WebSocket; info: TRPCRequestInfo };

export function contextFactory(deps: Deps) {
  return (opts: ContextOptions): Context => {
    if ('raw' in opts.req) {
      return { ...deps, token: bearerToken(opts.req.headers.authorization), ip: opts.req.ip, transport: 'http', socket: null };
    }
    const socket = opts.res as WebSocket;
    const ip = opts.req.socket.remoteAddress ?? '';
    return { ...deps, token: connectionToken(opts.info.connectionParams), ip, transport: 'ws', socket };
  };
}
