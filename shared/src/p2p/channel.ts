/**
 * Runs a peer protocol's state machine (the key handshake, the device link) over any
 * ordered message channel (DESIGN §7): an in-memory pair in tests, a PeerJS data
 * connection in Node and in Chromium.
 */
import type { HandshakeOutcome, HandshakeStep } from '../crypto/handshake.ts';

/** The least a transport must offer: ordered text messages and a close signal. */
export interface MessageChannel {
  send(text: string): void;
  onMessage(handler: (data: unknown) => void): void;
  onClose(handler: () => void): void;
  close(): void;
}

export type HandshakeMachine = PeerMachine<HandshakeStep['send'][number], HandshakeOutcome>;

/** Default time a whole handshake may take before both sides give up. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long the side that sent the last message waits for the peer to close. */
export const CLOSE_GRACE_MS = 2_000;

/** One step of any peer protocol: messages to send, and the outcome once it is over. */
export interface MachineStep<M, O> {
  send: M[];
  done?: O;
  /** Work to start once `send` is on the wire (work ahead of the peer's answer, never an answer itself). */
  afterSend?: () => void;
}

/** A peer protocol's state machine (the key handshake, the device link). */
export interface PeerMachine<M, O> {
  start(): MachineStep<M, O>;
  receive(raw: unknown): Promise<MachineStep<M, O>>;
}

/** The outcomes a runner makes up by itself: the channel closed (or timed out), or the machine broke its contract. */
export interface RunnerOutcomes<M, O> {
  closed: O;
  /** What to send and report when the machine throws. */
  broken: MachineStep<M, O>;
}

/**
 * Drives `machine` over `channel` until it finishes, the channel closes or the time
 * runs out; never throws. The channel is closed at the end either way, so a dropped
 * connection leaves both sides in a clean, named state.
 */
export function runMachine<M, O>(
  channel: MessageChannel,
  machine: PeerMachine<M, O>,
  outcomes: RunnerOutcomes<M, O>,
  options: { timeoutMs?: number; closeGraceMs?: number } = {},
): Promise<O> {
  const { timeoutMs = HANDSHAKE_TIMEOUT_MS, closeGraceMs = CLOSE_GRACE_MS } = options;
  return new Promise((resolve) => {
    let settled = false;
    let queue: Promise<void> = Promise.resolve();
    const finish = (outcome: O, sentLast = false, byMachine = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      // The side that sent the last message leaves the closing to the peer (so the
      // message is not cut off in flight), and closes itself only after a grace period.
      // A machine that finished on a message it received closes on the next task: tearing
      // a WebRTC connection down costs milliseconds of synchronous work, and the outcome
      // (the seed) is the caller's before that. A close or a timeout closes at once.
      if (sentLast) setTimeout(() => channel.close(), closeGraceMs);
      else if (byMachine) setTimeout(() => channel.close(), 0);
      else channel.close();
    };
    const timer = setTimeout(() => finish(outcomes.closed), timeoutMs);
    const apply = (step: MachineStep<M, O>) => {
      if (settled) return;
      for (const message of step.send) channel.send(JSON.stringify(message));
      if (step.done) finish(step.done, step.send.length > 0, true);
      else step.afterSend?.();
    };
    // A close is handled after every message that arrived before it.
    channel.onClose(() => {
      queue = queue.then(() => finish(outcomes.closed));
    });
    channel.onMessage((data) => {
      // Messages are handled strictly one after another, in arrival order.
      queue = queue.then(async () => {
        if (settled) return;
        try {
          apply(await machine.receive(data));
        } catch {
          // A machine never throws by contract; if one does, end cleanly and say so.
          apply(outcomes.broken);
        }
      });
    });
    apply(machine.start());
  });
}

/** Drives a key handshake (`runMachine` with the handshake's own outcomes). */
export function runHandshake(
  channel: MessageChannel,
  machine: HandshakeMachine,
  options: { timeoutMs?: number; closeGraceMs?: number } = {},
): Promise<HandshakeOutcome> {
  return runMachine(
    channel,
    machine,
    {
      closed: { kind: 'refused', reason: 'closed', by: 'channel' },
      broken: { send: [{ t: 'refuse', reason: 'malformed' }], done: { kind: 'refused', reason: 'malformed', by: 'me' } },
    },
    options,
  );
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
