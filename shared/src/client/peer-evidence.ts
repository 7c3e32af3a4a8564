/**
 * What this device has seen of other members' logs (DESIGN §4), kept per group in its
 * `GroupRecord`, and what follows from it. Pure functions: the caller loads, saves and
 * supplies the clock.
 *
 * - A peer's **signed** head (head-evidence.ts; the handshake's welcome or auth) that
 *   is ahead of our log is a *witnessed head*: the server has entries we have not been
 *   shown. Every sync checks them: reaching the witnessed seq with the same hash clears
 *   it; a different hash there is a fork; not reaching it within `WITNESS_BOUND_MS`
 *   is an alarm naming the server as the likely cause. Until it is reached, this
 *   device seals nothing new (`assertNotStale`).
 * - A signed head that conflicts with our log is *fork evidence*. It clears when the
 *   heads reconcile: the same member's device later signs a head that agrees with our
 *   log at or past the point of conflict.
 * - Heads from devices that are not members of our validated log are not kept (a
 *   stranger's signature vouches for nothing), and unsigned words never get here.
 * - A member can sign a made-up head. What it gains is bounded: the evidence names it,
 *   removing it (which its own evidence never blocks) drops everything it signed, and
 *   the person can dismiss it after checking with that member.
 */
import { EncodingError } from '../crypto/errors.ts';
import { compareHead } from '../crypto/group-log.ts';
import { verifyHeadEvidence, type HeadEvidence } from '../crypto/head-evidence.ts';
import type { EntryHash, Fingerprint } from '../protocol/ids.ts';
import type { LogHead } from '../protocol/schemas.ts';
import type { ForkEvidence, GroupRecord, WitnessedHead } from './key-store.ts';

export type { ForkEvidence, WitnessedHead } from './key-store.ts';

/** How long a witnessed head may stay unreached before the alarm names the server: 2 minutes (two extension ticks). */
export const WITNESS_BOUND_MS = 2 * 60_000;
/** At most this many witnessed heads and fork evidences are kept per group (one per peer; oldest dropped). */
export const MAX_PEER_EVIDENCE = 16;

export type PeerHeadVerdict =
  /** The peer's head agrees with our log (same, or behind with our hash). */
  | 'consistent'
  /** Ahead of us: kept as a witnessed head. */
  | 'ahead'
  /** Contradicts our log: kept as fork evidence. */
  | 'fork'
  /** Not a member of our validated log, or this device itself: not kept. */
  | 'ignored';

export type PeerEvidenceStatus =
  | { kind: 'clear' }
  | { kind: 'fork'; fork: ForkEvidence }
  /** Behind a witnessed head; `overdue` once it stayed unreached for `WITNESS_BOUND_MS`. */
  | { kind: 'behind'; witnessed: WitnessedHead; overdue: boolean };

export type PeerEvidenceFailure = 'stale-log' | 'peer-fork';

/** This device will not seal anything new: its log is behind (or forked from) a member's signed head. */
export class PeerEvidenceError extends Error {
  constructor(
    readonly reason: PeerEvidenceFailure,
    readonly peer: Fingerprint,
    readonly head: LogHead,
  ) {
    super(
      reason === 'stale-log'
        ? `this device has not been shown entry ${head.seq} of the group log, which another member's device has signed: nothing new is written until it arrives`
        : `another member's device signed entry ${head.seq} of the group log differently from this device: nothing new is written until the two agree`,
    );
    this.name = 'PeerEvidenceError';
  }
}

function keep<T extends { peer: Fingerprint }>(list: readonly T[] | undefined, item: T, stamp: (t: T) => number): T[] {
  const next = [...(list ?? []).filter((x) => x.peer !== item.peer), item];
  next.sort((a, b) => stamp(a) - stamp(b));
  return next.slice(-MAX_PEER_EVIDENCE);
}

/** Drops fork evidence from `peer` that a head of theirs agreeing with ours at `seq` resolves. */
function reconcile(forks: readonly ForkEvidence[] | undefined, peer: Fingerprint, seq: number): ForkEvidence[] | undefined {
  if (!forks) return forks;
  const left = forks.filter((f) => f.peer !== peer || f.head.seq > seq);
  return left.length === forks.length ? (forks as ForkEvidence[]) : left;
}

function withEvidence(record: GroupRecord, witnessed: WitnessedHead[] | undefined, forks: ForkEvidence[] | undefined): GroupRecord {
  const { witnessed: _w, forkEvidence: _f, ...rest } = record;
  return { ...rest, ...(witnessed && witnessed.length > 0 ? { witnessed } : {}), ...(forks && forks.length > 0 ? { forkEvidence: forks } : {}) };
}

/**
 * Keeps what a peer's signed head says about our log.
 * @param me this device's fingerprint (its own heads are not evidence).
 * @returns the record (the same object when nothing changed) and the verdict.
 * @throws {EncodingError} malformed evidence or another group's; {SignatureError} a signature that does not verify.
 */
export async function admitPeerHead(record: GroupRecord, evidence: HeadEvidence, now: number, me?: Fingerprint): Promise<{ record: GroupRecord; verdict: PeerHeadVerdict; peer: Fingerprint }> {
  const { peer, groupId, head } = await verifyHeadEvidence(evidence);
  if (groupId !== record.groupId) throw new EncodingError('head evidence of another group');
  const { state } = record;
  // Heads are signed by devices: only a current device of a member counts.
  if (peer === me || !state.devices.has(peer)) return { record, verdict: 'ignored', peer };
  switch (compareHead(state, head)) {
    case 'fork': {
      const fork: ForkEvidence = { peer, head, ours: state.hashes[head.seq]!, how: 'handshake', foundAt: now, evidence };
      return { record: withEvidence(record, record.witnessed, keep(record.forkEvidence, fork, (f) => f.foundAt)), verdict: 'fork', peer };
    }
    case 'peer-ahead': {
      const earlier = record.witnessed?.find((w) => w.peer === peer);
      if (earlier && earlier.head.seq === head.seq && earlier.head.hash === head.hash) return { record, verdict: 'ahead', peer };
      // A newer head from the same peer replaces its older one; the bound keeps running from the first.
      const witnessed: WitnessedHead = { peer, head, seenAt: earlier ? Math.min(earlier.seenAt, now) : now, evidence };
      return { record: withEvidence(record, keep(record.witnessed, witnessed, (w) => w.seenAt), record.forkEvidence), verdict: 'ahead', peer };
    }
    default: {
      const forks = reconcile(record.forkEvidence, peer, head.seq);
      return { record: forks === record.forkEvidence ? record : withEvidence(record, record.witnessed, forks), verdict: 'consistent', peer };
    }
  }
}

/**
 * After a sync: witnessed heads the log now reaches are cleared (and resolve their
 * peer's fork evidence up to there); one passed with another hash becomes fork evidence.
 * @returns the same object when nothing changed.
 */
export function checkWitnessed(record: GroupRecord, now: number): GroupRecord {
  const { state } = record;
  const pruned = dropDeparted(record);
  const witnessed = pruned.witnessed ?? [];
  if (witnessed.length === 0) return pruned;
  let forks = pruned.forkEvidence;
  const unreached: WitnessedHead[] = [];
  for (const w of witnessed) {
    if (w.head.seq > state.seq) {
      unreached.push(w);
    } else if (state.hashes[w.head.seq] === w.head.hash) {
      forks = reconcile(forks, w.peer, w.head.seq);
    } else {
      forks = keep(forks, { peer: w.peer, head: w.head, ours: state.hashes[w.head.seq]!, how: 'sync', foundAt: now, evidence: w.evidence }, (f) => f.foundAt);
    }
  }
  if (unreached.length === witnessed.length) return pruned;
  return withEvidence(pruned, unreached, forks);
}

/**
 * Evidence only counts while its signer is a member. A member's honest head never goes
 * past the entry that removed it (it can read no further), so once this device has
 * synced that removal, nothing true is lost; a member who signed made-up heads to
 * freeze others is undone by removing it (DESIGN §4: no single member can lock a group).
 */
function dropDeparted(record: GroupRecord): GroupRecord {
  const member = (e: { peer: Fingerprint }) => record.state.devices.has(e.peer);
  const witnessed = record.witnessed?.filter(member);
  const forks = record.forkEvidence?.filter(member);
  if (witnessed?.length === record.witnessed?.length && forks?.length === record.forkEvidence?.length) return record;
  return withEvidence(record, witnessed, forks);
}

/**
 * Forgets what `peer`'s device signed: the person's own decision once they have checked
 * with that member (their device may be wrong, or lying). Syncing and the next contact
 * with that member bring back anything still true.
 */
export function dismissEvidenceFrom(record: GroupRecord, peer: Fingerprint): GroupRecord {
  const witnessed = record.witnessed?.filter((w) => w.peer !== peer);
  const forks = record.forkEvidence?.filter((f) => f.peer !== peer);
  if (witnessed?.length === record.witnessed?.length && forks?.length === record.forkEvidence?.length) return record;
  return withEvidence(record, witnessed, forks);
}

/** What the evidence says now: fork first, then the longest-unreached witnessed head. */
export function peerEvidenceStatus(record: Pick<GroupRecord, 'witnessed' | 'forkEvidence'>, now: number, boundMs: number = WITNESS_BOUND_MS): PeerEvidenceStatus {
  const fork = record.forkEvidence?.[0];
  if (fork) return { kind: 'fork', fork };
  const oldest = [...(record.witnessed ?? [])].sort((a, b) => a.seenAt - b.seenAt)[0];
  if (oldest) return { kind: 'behind', witnessed: oldest, overdue: now - oldest.seenAt >= boundMs };
  return { kind: 'clear' };
}

/**
 * Refuses to seal anything new while this device has evidence its log is stale or
 * forked (call it after a sync, so only unreached heads are left).
 * @throws {PeerEvidenceError} `peer-fork` or `stale-log`.
 */
export function assertNotStale(record: Pick<GroupRecord, 'witnessed' | 'forkEvidence'>, options: { except?: ReadonlySet<Fingerprint> } = {}): void {
  const counts = (e: { peer: Fingerprint }) => !options.except?.has(e.peer);
  const fork = record.forkEvidence?.find(counts);
  if (fork) throw new PeerEvidenceError('peer-fork', fork.peer, fork.head);
  const witnessed = record.witnessed?.find(counts);
  if (witnessed) throw new PeerEvidenceError('stale-log', witnessed.peer, witnessed.head);
}
