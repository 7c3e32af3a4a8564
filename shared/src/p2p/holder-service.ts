/**
 * The key holder's side of the live handover (DESIGN §6.3): every incoming data
 * connection runs the holder handshake for the group the joiner names in its hello.
 * The group's state is looked up (and brought up to date) only then, so a joiner who
 * appended its own `add` a moment ago is found in the holder's log. The joiner's signed
 * log head, once its auth verified, is handed to `notePeerHead` (DESIGN §4: a head
 * ahead of ours becomes a witnessed head, a conflicting one fork evidence).
 */
import { runHandshake, type HandshakeMachine, type MessageChannel } from './channel.ts';
import { HolderHandshake, parseHandshakeMessage, type HandshakeOutcome, type HandshakeStep, type HeadEvidence, type HolderOptions, type RefusalReason } from '../crypto/handshake.ts';
import type { GroupState } from '../crypto/group-log.ts';
import { fingerprintOf, type DeviceIdentity } from '../crypto/identity.ts';
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import { channelFromDataConnection, type DataConnectionLike } from './peerjs-channel.ts';

/** What the holder needs of one group to decide and to seal. */
export interface HeldGroup extends HolderOptions {
  state: GroupState;
  /** Keeps the joiner's signed head (GroupClient.notePeerHead); awaited before the handover is reported. */
  notePeerHead?: (evidence: HeadEvidence) => Promise<unknown>;
}

/** Finds this device's up-to-date view of a group, or null when it holds none. */
/** `requester`: the device the joiner's hello names (unverified until the handshake ends): a holder may look its person up first. */
export type HeldGroupLookup = (groupId: GroupId, requester: Fingerprint) => Promise<HeldGroup | null>;

function refusal(reason: RefusalReason): HandshakeStep {
  return { send: [{ t: 'refuse', reason }], done: { kind: 'refused', reason, by: 'me' } };
}

/**
 * A holder handshake that does not know the group until the hello arrives. Lookup
 * failures (unknown group, network) are answered `wrong-group`/`no-key`, never thrown.
 */
export class GroupDispatchingHolder implements HandshakeMachine {
  private inner: HolderHandshake | undefined;
  private refused = false;
  private readonly recording: Array<Promise<unknown>> = [];

  constructor(
    private readonly me: DeviceIdentity,
    private readonly lookup: HeldGroupLookup,
  ) {}

  start(): HandshakeStep {
    return { send: [] };
  }

  async receive(raw: unknown): Promise<HandshakeStep> {
    if (this.inner) return this.inner.receive(raw);
    if (this.refused) return refusal('unexpected-message');
    const message = parseHandshakeMessage(raw);
    if (!message || message.t !== 'hello') {
      this.refused = true;
      return refusal(message ? 'unexpected-message' : 'malformed');
    }
    let held: HeldGroup | null;
    try {
      held = await this.lookup(message.groupId, fingerprintOf(message.bundle));
    } catch {
      held = null;
    }
    if (!held) {
      this.refused = true;
      return refusal('wrong-group');
    }
    const keep = held.notePeerHead;
    this.inner = new HolderHandshake(this.me, held.state, {
      ...held,
      onPeerHead: (evidence) => {
        held.onPeerHead?.(evidence);
        // A failure to keep it must not end the handshake; it is tried again at the next contact.
        if (keep) this.recording.push(keep(evidence).catch(() => undefined));
      },
    });
    // The hello is parsed already: hand it over as is.
    return this.inner.receiveMessage(message);
  }

  /** Resolves once every signed head seen in this handshake has been kept. */
  settled(): Promise<void> {
    return Promise.all(this.recording).then(() => undefined);
  }
}

/** The part of a PeerJS `Peer` the holder service uses. */
export interface PeerLike {
  on(event: 'connection', listener: (conn: DataConnectionLike) => void): unknown;
  off(event: 'connection', listener: (conn: DataConnectionLike) => void): unknown;
}

export interface HolderServiceOptions {
  /** Called with every finished handshake (the UI shows "key handed to Ana", or a refusal). */
  onOutcome?: (outcome: HandshakeOutcome) => void;
  timeoutMs?: number;
  closeGraceMs?: number;
}

/**
 * Serves handovers on every connection `peer` accepts, until the returned function is
 * called. Each connection is one handshake; it is closed at the end either way.
 */
export function serveKeyHandover(peer: PeerLike, me: DeviceIdentity, lookup: HeldGroupLookup, options: HolderServiceOptions = {}): () => void {
  const onConnection = (conn: DataConnectionLike) => {
    void serveChannel(channelFromDataConnection(conn), me, lookup, options).then((outcome) => {
      try {
        options.onOutcome?.(outcome);
      } catch {
        // A listener's failure must not become an unhandled rejection of the service.
      }
    });
  };
  peer.on('connection', onConnection);
  return () => {
    peer.off('connection', onConnection);
  };
}

/** One handover on an already open channel (any transport). */
export async function serveChannel(channel: MessageChannel, me: DeviceIdentity, lookup: HeldGroupLookup, options: Omit<HolderServiceOptions, 'onOutcome'> = {}): Promise<HandshakeOutcome> {
  const machine = new GroupDispatchingHolder(me, lookup);
  const outcome = await runHandshake(channel, machine, {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.closeGraceMs !== undefined ? { closeGraceMs: options.closeGraceMs } : {}),
  });
  await machine.settled();
  return outcome;
}
