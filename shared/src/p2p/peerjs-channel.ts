/**
 * A PeerJS data connection as a handshake `MessageChannel` (DESIGN §7). Typed
 * structurally, so this module imports neither peerjs nor node:* and runs unchanged
 * in the extension (Chromium) and in Node tests (peerjs + @roamhq/wrtc).
 *
 * - Text only: the handshake speaks JSON strings. Anything else (PeerJS delivers a sent
 *   `Uint8Array` as an `ArrayBuffer`, objects arrive decoded) is a protocol violation:
 *   the channel closes, and the handshake ends as `closed`.
 * - Sends made before the connection is open are queued and flushed on 'open', in order.
 * - 'close' and 'error' (and our own `close()`) run the close handlers exactly once.
 * - Messages that arrive before the first `onMessage` handler are kept and replayed to it.
 */
import type { MessageChannel } from './channel.ts';

/** The part of a PeerJS `DataConnection` this channel uses. */
export interface DataConnectionLike {
  readonly open: boolean;
  send(data: string): unknown;
  on(event: 'data', listener: (data: unknown) => void): unknown;
  on(event: 'open' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  close(): void;
}

export function channelFromDataConnection(conn: DataConnectionLike): MessageChannel {
  const messageHandlers: Array<(data: unknown) => void> = [];
  const closeHandlers: Array<() => void> = [];
  const early: string[] = [];
  let pending: string[] = [];
  let closed = false;

  const shut = (closeConnection: boolean) => {
    if (closed) return;
    closed = true;
    pending = [];
    early.length = 0;
    if (closeConnection) {
      try {
        conn.close();
      } catch {
        // Already torn down underneath us: nothing left to close.
      }
    }
    for (const handler of closeHandlers.splice(0)) handler();
  };

  const transmit = (text: string) => {
    try {
      conn.send(text);
    } catch {
      shut(true);
    }
  };

  const flush = () => {
    if (closed) return;
    const queued = pending;
    pending = [];
    for (const text of queued) {
      if (closed) return;
      transmit(text);
    }
  };

  conn.on('open', flush);
  conn.on('data', (data: unknown) => {
    if (closed) return;
    if (typeof data !== 'string') {
      shut(true);
      return;
    }
    if (messageHandlers.length === 0) early.push(data);
    else for (const handler of messageHandlers) handler(data);
  });
  conn.on('close', () => shut(false));
  conn.on('error', () => shut(true));

  return {
    send(text) {
      if (closed) return;
      if (conn.open && pending.length === 0) transmit(text);
      else pending.push(text);
    },
    onMessage(handler) {
      messageHandlers.push(handler);
      if (messageHandlers.length === 1 && early.length > 0) {
        const replay = early.splice(0);
        for (const text of replay) {
          if (closed) break;
          handler(text);
        }
      }
    },
    onClose(handler) {
      if (closed) queueMicrotask(handler);
      else closeHandlers.push(handler);
    },
    close() {
      shut(true);
    },
  };
}
