/**
 * A `runtime.Port` as a handshake `MessageChannel` (DESIGN §7, MV3): the offscreen
 * document relays each data connection over its own port, and the background runs
 * the handshake over this channel as if it held the connection itself.
 *
 * Same contract as `channelFromDataConnection` (shared/src/p2p/peerjs-channel.ts):
 * - text only: anything else arriving closes the channel (a protocol violation);
 * - sends made before a port is attached are queued and flushed in order;
 * - messages that arrive before the first `onMessage` handler are kept and replayed;
 * - the close handlers run exactly once, whichever side closes.
 */
import type { MessageChannel } from '@conclave/shared/p2p';

/** The part of `runtime.Port` a channel uses (Chrome's and Firefox's ports both fit). */
export interface PortLike {
  readonly name: string;
  postMessage(message: unknown): void;
  disconnect(): void;
  readonly onMessage: { addListener(listener: (message: unknown) => void): void };
  readonly onDisconnect: { addListener(listener: () => void): void };
}

/** A channel whose far end is attached later (a port or connection that is still being opened). */
export interface DeferredChannel extends MessageChannel {
  /** Binds the far end; a second attach, or one after `close()`, closes what it is given. */
  attach(inner: MessageChannel): void;
  readonly closed: boolean;
}

/** A channel that queues until `attach(inner)`, then forwards both ways to `inner`. */
export function deferredChannel(): DeferredChannel {
  const messageHandlers: Array<(data: unknown) => void> = [];
  const closeHandlers: Array<() => void> = [];
  const early: unknown[] = [];
  let pending: string[] = [];
  let inner: MessageChannel | undefined;
  let closed = false;

  const shut = (closeInner: boolean) => {
    if (closed) return;
    closed = true;
    pending = [];
    early.length = 0;
    if (closeInner) inner?.close();
    for (const handler of closeHandlers.splice(0)) handler();
  };

  const deliver = (data: unknown) => {
    if (closed) return;
    if (messageHandlers.length === 0) early.push(data);
    else for (const handler of messageHandlers) handler(data);
  };

  return {
    get closed() {
      return closed;
    },
    attach(next) {
      if (closed || inner) {
        next.close();
        return;
      }
      inner = next;
      next.onMessage(deliver);
      next.onClose(() => shut(false));
      const queued = pending;
      pending = [];
      for (const text of queued) {
        if (closed) return;
        next.send(text);
      }
    },
    send(text) {
      if (closed) return;
      if (inner) inner.send(text);
      else pending.push(text);
    },
    onMessage(handler) {
      messageHandlers.push(handler);
      if (messageHandlers.length === 1 && early.length > 0) {
        for (const data of early.splice(0)) {
          if (closed) break;
          handler(data);
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

/** `port` as a channel. Its listeners are attached now, so nothing posted early is lost. */
export function channelFromPort(port: PortLike): MessageChannel {
  const outer = deferredChannel();
  const messageHandlers: Array<(data: unknown) => void> = [];
  const closeHandlers: Array<() => void> = [];
  let closed = false;

  const shut = (disconnect: boolean) => {
    if (closed) return;
    closed = true;
    if (disconnect) {
      try {
        port.disconnect();
      } catch {
        // Already disconnected underneath us.
      }
    }
    for (const handler of closeHandlers.splice(0)) handler();
  };

  port.onMessage.addListener((message) => {
    if (closed) return;
    if (typeof message !== 'string') {
      shut(true);
      return;
    }
    for (const handler of messageHandlers) handler(message);
  });
  // Fired only by the far end's disconnect (or its context going away), never by ours.
  port.onDisconnect.addListener(() => shut(false));

  outer.attach({
    send(text) {
      if (closed) return;
      try {
        port.postMessage(text);
      } catch {
        shut(true);
      }
    },
    onMessage(handler) {
      messageHandlers.push(handler);
    },
    onClose(handler) {
      if (closed) queueMicrotask(handler);
      else closeHandlers.push(handler);
    },
    close() {
      shut(true);
    },
  });
  return outer;
}

/** Joins two channels: each one's messages are sent on the other, and either closing closes both. */
export function pipeChannels(a: MessageChannel, b: MessageChannel): void {
  a.onMessage((data) => b.send(data as string));
  b.onMessage((data) => a.send(data as string));
  a.onClose(() => b.close());
  b.onClose(() => a.close());
}
