/**
 * The device's live event stream (docs/API.md "Live events"): the `events.live`
 * subscription over a WebSocket, kept open until `close()`.
 *
 * - Each connection signs in with the session token in tRPC `connectionParams` (never
 *   in the URL); the session is renewed first when it is about to end.
 * - A dropped socket, a refused or ended subscription, or a missing `PONG` is followed
 *   by a fresh connection after `liveReconnectDelayMs(attempt)` (0.5 s doubling to
 *   30 s, plus jitter); the attempt count starts again once a `heads` event arrives.
 * - Every event is parsed with `liveEventSchema`; one that does not parse is dropped
 *   (events are hints: the data still comes from the normal, verified calls).
 */
import { createTRPCUntypedClient, createWSClient, wsLink, type TRPCWebSocketClient } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { LIVE_CLIENT_PING_MS, LIVE_PONG_TIMEOUT_MS, LIVE_PROCEDURE, liveEventSchema, liveReconnectDelayMs, type LiveEvent } from '../protocol/events.ts';
import { apiErrorOf } from './api-session.ts';

export type LiveStatus = 'connecting' | 'open' | 'closed';

export interface LiveOptions {
  /** Called with every event, `heads` first on every (re)connection. */
  onEvent(event: LiveEvent): void;
  /** `open` once a connection's `heads` arrived; `closed` when it dropped (it comes back by itself). */
  onStatus?(status: LiveStatus): void;
  /** The WebSocket class (browsers and Node ≥ 22 have one; Node 20 passes `ws`'s). */
  WebSocket?: typeof globalThis.WebSocket;
  /** The reconnect delay for attempt n (tests shorten it). */
  retryDelayMs?: (attempt: number) => number;
}

export interface LiveStream {
  /** Stops the stream for good (no reconnect). */
  close(): Promise<void>;
}

/** What the stream needs from the session: a token that is valid now, and a forced renewal. */
export interface LiveSession {
  freshToken(): Promise<string>;
  renew(): Promise<void>;
}

/** `http(s)://host/…` → `ws(s)://host/…/trpc`. */
export function liveUrl(baseUrl: string): string {
  const url = new URL(`${baseUrl.replace(/\/$/, '')}/trpc`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

export function openLiveStream(baseUrl: string, session: LiveSession, options: LiveOptions): LiveStream {
  const delay = options.retryDelayMs ?? liveReconnectDelayMs;
  let closed = false;
  let attempt = 0;
  let socket: TRPCWebSocketClient | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let unsubscribe: (() => void) | null = null;
  const status = (s: LiveStatus) => {
    if (!closed) options.onStatus?.(s);
  };

  /** Drops the current connection (if any) and opens a new one after the backoff delay. */
  const again = (renew: boolean) => {
    if (closed || retry) return;
    teardown();
    status('closed');
    retry = setTimeout(() => {
      retry = null;
      void (renew ? session.renew().catch(() => undefined) : Promise.resolve()).then(connect);
    }, delay(attempt++));
  };

  const teardown = () => {
    unsubscribe?.();
    unsubscribe = null;
    const old = socket;
    socket = null;
    void old?.close();
  };

  const connect = () => {
    if (closed) return;
    status('connecting');
    const ws = createWSClient({
      url: liveUrl(baseUrl),
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      // Read on every (re)connection, so a renewed session is used.
      connectionParams: async () => ({ token: await session.freshToken() }),
      // tRPC reconnects a dropped socket by itself and subscribes again; its delay is ours.
      retryDelayMs: (n) => delay(n),
      keepAlive: { enabled: true, intervalMs: LIVE_CLIENT_PING_MS, pongTimeoutMs: LIVE_PONG_TIMEOUT_MS },
      onClose: () => status('closed'),
    });
    socket = ws;
    const client = createTRPCUntypedClient<AnyTRPCRouter>({ links: [wsLink({ client: ws })] });
    const subscription = client.subscription(LIVE_PROCEDURE, undefined, {
      onData(raw: unknown) {
        const parsed = liveEventSchema.safeParse(raw);
        if (!parsed.success) return;
        if (parsed.data.type === 'heads') {
          attempt = 0;
          status('open');
        }
        options.onEvent(parsed.data);
      },
      // Refused (a session the server no longer knows: sign in again) or ended by the
      // server (the session expired): a new connection, with a new context.
      onError(error: unknown) {
        again(apiErrorOf(error)?.code === 'UNAUTHORIZED');
      },
      onComplete() {
        again(false);
      },
    });
    unsubscribe = () => subscription.unsubscribe();
  };

  connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = null;
      teardown();
    },
  };
}
