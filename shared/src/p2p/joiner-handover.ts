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
import { fingerprintSchema, groupIdSchema, type Fingerprint, type GroupId } from '../protocol/ids.ts';

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
    const result = await attemptWith(me, state, () => transport.connect(peer), peer, options, attempts);
    if (result) return result;
  }
  return { kind: 'failed', attempts };
}

/**
 * The joiner's handshake on a channel the holder opened (it sent a `key-offer` first,
 * `parseKeyOffer`): the same handshake as when the joiner dials, expecting exactly the
 * device that offered — which must be one that could hold the key in the joiner's own
 * log (`keyHolderCandidates`); anyone else is not answered. The offer itself proves
 * nothing: the holder's signed welcome does.
 */
export async function receiveKeyOnChannel(me: DeviceIdentity, state: GroupState, channel: MessageChannel, peer: Fingerprint, options: JoinerOptions = {}): Promise<PeerKeyResult> {
  if (!keyHolderCandidates(state, me.fingerprint).includes(peer)) {
    channel.close();
    return { kind: 'failed', attempts: [{ peer, outcome: { kind: 'refused', reason: 'not-a-member', by: 'me', peer } }] };
  }
  const attempts: PeerAttempt[] = [];
  return (await attemptWith(me, state, () => channel, peer, options, attempts)) ?? { kind: 'failed', attempts };
}

/** One handshake with `peer`; the result when it ends the search (a key or a signed fork), else null (the attempt is recorded). */
async function attemptWith(
  me: DeviceIdentity,
  state: GroupState,
  open: () => MessageChannel,
  peer: Fingerprint,
  options: JoinerOptions,
  attempts: PeerAttempt[],
): Promise<PeerKeyResult | null> {
  const qrSecret = options.qrSecretFor?.(peer);
  const seen: HeadEvidence[] = [];
  const machine = new JoinerHandshake(me, state, { expectedPeer: peer, ...(qrSecret ? { qrSecret } : {}), onPeerHead: (evidence) => seen.push(evidence) });
  let outcome: HandshakeOutcome;
  try {
    outcome = await runHandshake(open(), machine, {
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
  return null;
}

/**
 * The first message of a channel a key holder opens to a device waiting for the key
 * (DESIGN §6.3, "both online"): "I can hand you this group's key now: say hello". It
 * lets a holder who has just verified a waiting member hand the key over live at once,
 * instead of through the mailbox, although the handshake is always the joiner's to
 * start. Unsigned on purpose: the joiner answers it only with the ordinary handshake,
 * expecting the device named here, whose signed welcome it then checks.
 */
export interface KeyOffer {
  t: 'key-offer';
  v: 3;
  groupId: GroupId;
  /** The offering device (the holder the joiner's hello must `expect`). */
  from: Fingerprint;
}

export function keyOfferMessage(groupId: GroupId, from: Fingerprint): KeyOffer {
  return { t: 'key-offer', v: 3, groupId, from };
}

/** The offer in a channel's first message, or null when it is anything else (a hello, a link offer). */
export function parseKeyOffer(raw: unknown): KeyOffer | null {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  if (typeof value !== 'object' || value === null) return null;
  const { t, v, groupId, from } = value as Record<string, unknown>;
  if (t !== 'key-offer' || v !== 3 || typeof groupId !== 'string' || typeof from !== 'string') return null;
  const group = groupIdSchema.safeParse(groupId);
  const device = fingerprintSchema.safeParse(from);
  if (!group.success || !device.success) return null;
  return { t, v, groupId: group.data, from: device.data };
}
