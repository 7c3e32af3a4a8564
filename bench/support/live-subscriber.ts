/**
 * The lightest honest live subscriber for load benches: a raw tRPC `createWSClient` +
 * `wsLink` subscription to `events.live`, with the session token in `connectionParams`
 * and the SDK's heartbeat (LIVE_CLIENT_PING_MS / LIVE_PONG_TIMEOUT_MS), exactly what
 * `GroupClient.live` opens on the wire — without the SDK's per-event zod parse, session
 * renewal and reconnect, which would only load the measuring process. One WebSocket per
 * subscriber (each is a device with its own session).
 */
import { createTRPCUntypedClient, createWSClient, wsLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import WebSocket from 'ws';
import { liveUrl } from '@conclave/shared/client';
import { LIVE_CLIENT_PING_MS, LIVE_PONG_TIMEOUT_MS, LIVE_PROCEDURE } from '@conclave/shared/protocol';

export interface RawEvent {
  type: string;
  groupId?: string;
  noteId?: string;
}

export interface Subscriber {
  /** Resolves with the first event (`heads`), rejects on a refusal. */
  opened: Promise<void>;
  close(): Promise<void>;
}

export function subscribe(baseUrl: string, token: string, onEvent: (event: RawEvent) => void): Subscriber {
  const ws = createWSClient({
    url: liveUrl(baseUrl),
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: () => ({ token }),
    keepAlive: { enabled: true, intervalMs: LIVE_CLIENT_PING_MS, pongTimeoutMs: LIVE_PONG_TIMEOUT_MS },
    // A bench subscriber never reconnects quietly: a drop would falsify the counts.
    retryDelayMs: () => 3_600_000,
  });
  const client = createTRPCUntypedClient<AnyTRPCRouter>({ links: [wsLink({ client: ws })] });
  let first: (() => void) | null = null;
  let refused: ((error: Error) => void) | null = null;
  const opened = new Promise<void>((resolve, reject) => {
    first = resolve;
    refused = reject;
  });
  const subscription = client.subscription(LIVE_PROCEDURE, undefined, {
    onData(raw: unknown) {
      if (first) {
        first();
        first = null;
      }
      onEvent(raw as RawEvent);
    },
    onError(error: unknown) {
      refused?.(new Error(`the live subscription was refused or dropped: ${(error as Error).message}`));
    },
  });
  return {
    opened,
    async close() {
      subscription.unsubscribe();
      await ws.close();
    },
  };
}
