/**
 * The live stream (docs/API.md "Live events"): `events.live`, a subscription served
 * only over the WebSocket at /trpc, authenticated by `connectionParams.token`. It
 * yields `heads` first (every group the device is a member of now), then the hints
 * the hub fans out to this device (services/live-hub.ts). It ends when the client
 * stops it or the socket closes; when the session expires or is signed out it fails
 * with UNAUTHORIZED and the socket is closed, so the client signs in again and
 * reconnects.
 */
import type { WebSocket } from 'ws';
import type { LiveEvent } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { SessionEnded } from '../services/live-hub.ts';
import { holdSocket } from '../services/socket-guard.ts';
import { authedProcedure, router } from '../trpc/init.ts';

/** The close code of a socket whose session ended (4000–4999: the application's own). */
export const SESSION_ENDED_CLOSE_CODE = 4401;
/** Long enough for the UNAUTHORIZED answer to be written before the close frame. */
const CLOSE_AFTER_MS = 50;

/**
 * A socket whose client reads slower than events come holds them in its send buffer:
 * above this, the stream waits, its queue in the hub fills, and the hub replaces it
 * with one fresh `heads` (services/live-subscriber.ts), so memory stays bounded.
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const DRAIN_CHECK_MS = 50;

/** Waits while the socket's send buffer is over the limit (and the socket open, the stream on, the session alive). */
async function drained(socket: WebSocket | null, signal: AbortSignal | undefined, sessionEnded: () => boolean): Promise<void> {
  while (socket && socket.bufferedAmount > MAX_BUFFERED_BYTES && socket.readyState === socket.OPEN && !signal?.aborted && !sessionEnded()) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS));
  }
}

export const eventsRouter = router({
  /** Subscription: `heads`, then `log`, `box`, `note`, `request`, `online`, `removed` events. */
  live: authedProcedure.subscription(async function* ({ ctx, signal }): AsyncGenerator<LiveEvent> {
    let ended = false;
    const stream = ctx.live.open({
      device: ctx.device,
      tokenHash: ctx.tokenHash,
      expiresAt: ctx.sessionExpiresAt,
      signal: signal ?? new AbortController().signal,
      onSessionEnd: () => (ended = true),
    });
    // The socket carries a running subscription: it is not closed as idle (services/socket-guard.ts).
    const release = ctx.socket ? holdSocket(ctx.socket) : () => undefined;
    try {
      for await (const event of stream) {
        yield event;
        await drained(ctx.socket, signal, () => ended);
      }
    } catch (error) {
      if (!(error instanceof SessionEnded)) throw error;
      const socket = ctx.socket;
      setTimeout(() => socket?.close(SESSION_ENDED_CLOSE_CODE, 'session ended'), CLOSE_AFTER_MS).unref();
      throw apiError('UNAUTHORIZED', 'the session has expired or was signed out: sign in again and reconnect');
    } finally {
      release();
    }
  }),
});
