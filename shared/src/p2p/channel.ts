/**
 * Runs a handshake state machine over any ordered message channel (DESIGN §7): an
 * in-memory pair in tests, a PeerJS data connection in Node and in Chromium.
 */
import type { HandshakeOutcome, HandshakeStep } from '../crypto/handshake.ts';

/** The least a transport must offer: ordered text messages and a close signal. */
export interface MessageChannel {
  send(text: string): void;
  onMessage(handler: (data: unknown) => void): void;
  onClose(handler: () => void): void;
  close(): void;
}

export interface HandshakeMachine {
  start(): HandshakeStep;
  receive(raw: unknown): Promise<HandshakeStep>;
}

/** Default time a whole handshake may take before both sides give up. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long the side that sent the last message waits for the peer to close. */
export const CLOSE_GRACE_MS = 2_000;

/**
 * Drives `machine` over `channel` until it finishes, the channel closes or the time
 * runs out; never throws. The channel is closed at the end either way, so a dropped
 * connection leaves both sides in a clean, named state.
 */
export function runHandshake(
  channel: MessageChannel,
  machine: HandshakeMachine,
  options: { timeoutMs?: number; closeGraceMs?: number } = {},
): Promise<HandshakeOutcome> {
  const { timeoutMs = HANDSHAKE_TIMEOUT_MS, closeGraceMs = CLOSE_GRACE_MS } = options;
  return new Promise((resolve) => {
    let settled = false;
    let queue: Promise<void> = Promise.resolve();
    const finish = (outcome: HandshakeOutcome, sentLast = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The side that sent the last message leaves the closing to the peer (so the
      // message is not cut off in flight), and closes itself only after a grace period.
      if (sentLast) setTimeout(() => channel.close(), closeGraceMs);
      else channel.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'refused', reason: 'closed', by: 'channel' }), timeoutMs);
    const apply = (step: HandshakeStep) => {
      if (settled) return;
      for (const message of step.send) channel.send(JSON.stringify(message));
      if (step.done) finish(step.done, step.send.length > 0);
    };
    // A close is handled after every message that arrived before it.
    channel.onClose(() => {
      queue = queue.then(() => finish({ kind: 'refused', reason: 'closed', by: 'channel' }));
    });
    channel.onMessage((data) => {
      // Messages are handled strictly one after another, in arrival order.
      queue = queue.then(async () => {
        if (settled) return;
        try {
          apply(await machine.receive(data));
        } catch {
          // A machine never throws by contract; if one does, end cleanly and say so.
          apply({ send: [{ t: 'refuse', reason: 'malformed' }], done: { kind: 'refused', reason: 'malformed', by: 'me' } });
        }
      });
    });
    apply(machine.start());
  });
}

/** Two connected in-memory channels (tests, and same-process hand-offs). */
export function memoryChannelPair(): [MessageChannel, MessageChannel] {
  const make = () => ({ messages: [] as Array<(d: unknown) => void>, closes: [] as Array<() => void>, closed: false });
  const a = make();
  const b = make();
  const end = (self: ReturnType<typeof make>, other: ReturnType<typeof make>): MessageChannel => ({
    send(text) {
      if (self.closed) return;
      queueMicrotask(() => {
        if (!other.closed) for (const h of other.messages) h(text);
      });
    },
    onMessage(handler) {
      self.messages.push(handler);
    },
    onClose(handler) {
      self.closes.push(handler);
    },
    close() {
      for (const side of [self, other]) {
        if (side.closed) continue;
        side.closed = true;
        for (const h of side.closes) h();
      }
    },
  });
  return [end(a, b), end(b, a)];
}
