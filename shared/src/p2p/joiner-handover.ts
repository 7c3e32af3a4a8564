/**
 * The joiner's side of the live handover (DESIGN §6.3): find which members are
 * online, connect to them one at a time, run the joiner handshake expecting exactly
 * the fingerprint dialled, and stop at the first key received. Transport-agnostic:
 * `connect` returns any ordered message channel (a PeerJS data connection in practice).
 * Every holder's signed log head is handed to `notePeerHead` (DESIGN §4); a fork is
 * reported only on such a signed head, never on a peer's word.
 */
import { runHandshake, type MessageChannel } from './channel.ts';
import { JoinerHandshake, type HandshakeOutcome, type HeadEvidence } from '../crypto/handshake.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import type { Fingerprint } from '../protocol/ids.ts';

export interface PeerAttempt {
  peer: Fingerprint;
  outcome: HandshakeOutcome;
}

export type PeerKeyResult =
  | { kind: 'received'; peer: Fingerprint; generation: number; seed: Uint8Array; attempts: PeerAttempt[] }
  /** No member who could hold the key is online. */
  | { kind: 'nobody-online'; attempts: [] }
  /** Every online holder refused, timed out or dropped; `attempts` says how. */
  | { kind: 'failed'; attempts: PeerAttempt[] }
  /** A holder signed a log head that contradicts ours: one of the two logs is forked. Never continue silently. */
  | { kind: 'fork'; peer: Fingerprint; evidence: HeadEvidence; attempts: PeerAttempt[] };

export interface JoinerTransport {
  /** Which of these ids have an open signaling connection right now. */
  online(ids: readonly Fingerprint[]): Promise<Fingerprint[]>;
  /** Opens a data connection to `peer` (it may never open: the handshake's timeout covers that). */
  connect(peer: Fingerprint): MessageChannel;
}

export interface JoinerOptions {
  /** The QR secret scanned from this peer, if any: echoing it verifies both sides. */
  qrSecretFor?: (peer: Fingerprint) => string | undefined;
  /** Called before each connection attempt (the UI shows "connecting to Ana…"). */
  onConnecting?: (peer: Fingerprint) => void;
  /** Keeps a holder's signed head (GroupClient.notePeerHead); awaited after each attempt, failures ignored. */
  notePeerHead?: (evidence: HeadEvidence) => Promise<unknown>;
  /** Time one handshake may take, connection included. */
  timeoutMs?: number;
  closeGraceMs?: number;
}

/**
 * Devices that could hand the key over (peers are dialled by device), best first: the
 * devices of admins (they also answer the mailbox), then the others' — the person's own
 * other devices included; never this device or the recovery recipient.
 */
export function keyHolderCandidates(state: GroupState, me: Fingerprint): Fingerprint[] {
  const others = [...state.devices.values()].filter((d) => d.fingerprint !== me && d.person !== state.recovery);
  const admin = (d: { person: Fingerprint }) => state.members.get(d.person)?.role === 'admin';
  return [...others.filter(admin), ...others.filter((d) => !admin(d))].map((d) => d.fingerprint);
}

/** Tries the online holders in order until one hands over the key. Never throws for a peer's fault. */
export async function receiveKeyFromPeers(me: DeviceIdentity, state: GroupState, transport: JoinerTransport, options: JoinerOptions = {}): Promise<PeerKeyResult> {
  const candidates = keyHolderCandidates(state, me.fingerprint);
  const online = new Set(candidates.length > 0 ? await transport.online(candidates) : []);
  const reachable = candidates.filter((c) => online.has(c));
  if (reachable.length === 0) return { kind: 'nobody-online', attempts: [] };
  const attempts: PeerAttempt[] = [];
  for (const peer of reachable) {
    options.onConnecting?.(peer);
    const qrSecret = options.qrSecretFor?.(peer);
    const seen: HeadEvidence[] = [];
    const machine = new JoinerHandshake(me, state, { expectedPeer: peer, ...(qrSecret ? { qrSecret } : {}), onPeerHead: (evidence) => seen.push(evidence) });
    let outcome: HandshakeOutcome;
    try {
      outcome = await runHandshake(transport.connect(peer), machine, {
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.closeGraceMs !== undefined ? { closeGraceMs: options.closeGraceMs } : {}),
      });
    } catch {
      // `connect` itself failed (the peer library refused synchronously).
      outcome = { kind: 'refused', reason: 'closed', by: 'channel', peer };
    }
    for (const evidence of seen) await options.notePeerHead?.(evidence).catch(() => undefined);
    attempts.push({ peer, outcome });
    if (outcome.kind === 'received') return { kind: 'received', peer, generation: outcome.generation, seed: outcome.seed, attempts };
    // Only a signed head is a fork; a peer's unsigned `refuse: fork` is one more refusal.
    if (outcome.kind === 'fork') return { kind: 'fork', peer, evidence: outcome.evidence, attempts };
  }
  return { kind: 'failed', attempts };
}
