/**
 * The signed group log (DESIGN §4): entries, their hashes and signatures, and the
 * state a validated log describes. Replaying and validating is in `log-replay.ts`.
 */
import { labelled } from '../protocol/canonical.ts';
import { concatBytes, fromBase64url, toBase64url, utf8 } from '../protocol/encoding.ts';
import type { EntryHash, Fingerprint, GroupId, InviteId, Role } from '../protocol/ids.ts';
import { PROTOCOL_VERSION, type HandoverPolicy, type LogBody, type LogEntry, type LogHead, type LogOp, type PublicBundle, type SeedLink, type UnsignedLogEntry } from '../protocol/schemas.ts';
import type { Bytes } from '../protocol/encoding.ts';
import { LogVerificationError } from './errors.ts';
import { signLabelled, type DeviceIdentity } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256Now } from './primitives.ts';

export interface MemberInfo {
  fingerprint: Fingerprint;
  bundle: PublicBundle;
  signKey: Bytes;
  boxKey: Bytes;
  role: Role;
  /** Sequence number of the entry that made them a member. */
  joinedSeq: number;
  /** How they came in: trust in them starts from this (an invite link is weaker than a verified scan). */
  via: 'create' | 'admin' | 'invite' | 'recovery';
  invite?: InviteId;
}

export interface DepartedMember {
  fingerprint: Fingerprint;
  bundle: PublicBundle;
  seq: number;
  how: 'removed' | 'left' | 'replaced';
}

export interface GenerationInfo {
  generation: number;
  /** The entry that started it. */
  seq: number;
  /** The author's clock on that entry: "the key made by X's device on <date>". */
  at: number;
  /** Who started it (an admin; the creator for generation 0): a broken generation is attributed to them. */
  startedBy: Fingerprint;
  seedCommitment: string;
  /** Earlier seeds wrapped under this generation's prev key (empty for generation 0). */
  links: SeedLink[];
  /** Everyone who was a member at some point while this generation was current. */
  members: Set<Fingerprint>;
}

export interface InviteInfo {
  id: InviteId;
  seq: number;
  author: Fingerprint;
  expiresAt: number;
  role: Role;
  /** Present for a pre-keyed invite: the X25519 key the seed is sealed to. */
  boxKey?: string;
  usedBy?: Fingerprint;
  /** Set when its author stopped being an admin (removed, left, demoted): it can no longer be accepted. */
  revokedAt?: number;
}

/** What a validated log says about a group. Only ever built by replaying a log. */
export interface GroupState {
  groupId: GroupId;
  policy: HandoverPolicy;
  creator: Fingerprint;
  seq: number;
  head: EntryHash;
  /** Hash of every entry, by sequence number: compares heads with peers and QR codes. */
  hashes: EntryHash[];
  /** The author's clock at the last entry; entries never go back in time. */
  lastAt: number;
  members: Map<Fingerprint, MemberInfo>;
  departed: Map<Fingerprint, DepartedMember>;
  generations: GenerationInfo[];
  invites: Map<InviteId, InviteInfo>;
  recovery: Fingerprint | null;
  /** Every time a recovery code added a device (an `add` signed by the recovery key), oldest first: admins are told. */
  recoveryUses: RecoveryUse[];
  /**
   * Set by a `leave`, cleared by the next rotation: the member who left still holds the
   * current key, so an admin device rotates as soon as it sees this (DESIGN §4).
   */
  owedRotation: OwedRotation | null;
}

/** A key rotation the group is owed because a member left (a leave carries no key). */
export interface OwedRotation {
  /** Who left. */
  member: Fingerprint;
  /** The leave entry. */
  seq: number;
  at: number;
}

/** A device added with the recovery code: an `add` signed by the recovery key. */
export interface RecoveryUse {
  seq: number;
  /** The author's clock on that entry. */
  at: number;
  /** The device it added. */
  device: Fingerprint;
  /** The recovery key that signed it: compare with `GroupState.recovery` to see whether that code has been replaced since. */
  recoveryKey: Fingerprint;
}

/** The bytes an entry's signature covers: every field but `sig`. */
export function entrySigningInput(entry: LogEntry | UnsignedLogEntry): Bytes {
  const { sig: _sig, ...unsigned } = entry as LogEntry;
  return labelled(LABELS.logEntry, unsigned);
}

const ENTRY_HASH_PREFIX = concatBytes(utf8(LABELS.logEntryHash), new Uint8Array([0]));

/** SHA-256(`conclave/v2/log-entry-hash` ‖ 0 ‖ signing input ‖ signature bytes), from a signing input already built. */
export function entryHashOf(signingInput: Uint8Array, sig: string): EntryHash {
  return toBase64url(sha256Now(concatBytes(ENTRY_HASH_PREFIX, signingInput, fromBase64url(sig, 64)))) as EntryHash;
}

/** Hash of a whole signed entry: what the next entry's `prev` names. */
export function entryHash(entry: LogEntry): EntryHash {
  return entryHashOf(entrySigningInput(entry), entry.sig);
}

/** Signs an entry with the author's device key. */
export async function signEntry(unsigned: UnsignedLogEntry, author: DeviceIdentity): Promise<LogEntry> {
  const sig = await signLabelled(author, LABELS.logEntry, unsigned);
  return { ...unsigned, sig } as LogEntry;
}

/**
 * The next entry after `state`, signed by `author`. Build it, then validate it with
 * `extendLog(state, [entry])` before sending: a client never sends what it would reject.
 */
export async function nextEntry<O extends Exclude<LogOp, 'create'>>(
  state: GroupState,
  author: DeviceIdentity,
  op: O,
  body: LogBody<O>,
  at: number = Date.now(),
): Promise<LogEntry> {
  const unsigned = {
    v: PROTOCOL_VERSION,
    groupId: state.groupId,
    seq: state.seq + 1,
    prev: state.head,
    author: author.fingerprint,
    at: Math.max(at, state.lastAt),
    op,
    body,
  } as UnsignedLogEntry;
  return signEntry(unsigned, author);
}

export function logHead(state: GroupState): LogHead {
  return { seq: state.seq, hash: state.head };
}

export type HeadComparison = 'same' | 'peer-behind' | 'peer-ahead' | 'fork';

/**
 * Compares a peer's head with our validated log. A peer behind us must have our hash
 * at its sequence number; a peer ahead of us cannot be checked until we sync.
 */
export function compareHead(state: GroupState, head: LogHead): HeadComparison {
  if (head.seq > state.seq) return 'peer-ahead';
  if (state.hashes[head.seq] !== head.hash) return 'fork';
  return head.seq === state.seq ? 'same' : 'peer-behind';
}

/**
 * Refuses a log that does not extend the head this device pinned earlier.
 * @throws {LogVerificationError} `rollback` when the log is shorter, `fork` when it differs.
 */
export function checkPinnedHead(state: GroupState, pinned: LogHead | null | undefined): void {
  if (!pinned) return;
  if (state.seq < pinned.seq) {
    throw new LogVerificationError('rollback', `the server returned the group log up to entry ${state.seq}, but this device has already seen entry ${pinned.seq}`);
  }
  if (state.hashes[pinned.seq] !== pinned.hash) {
    throw new LogVerificationError('fork', `the group log differs from the one this device saw at entry ${pinned.seq}`, pinned.seq);
  }
}

export function isAdmin(state: GroupState, fingerprint: Fingerprint): boolean {
  return state.members.get(fingerprint)?.role === 'admin';
}

export function currentGeneration(state: GroupState): number {
  return state.generations.length - 1;
}

/** Members who hold an account of their own (everyone but the recovery recipient). */
export function people(state: GroupState): MemberInfo[] {
  return [...state.members.values()].filter((m) => m.fingerprint !== state.recovery);
}

/** Invites that can still be accepted at `now` (an invite is valid up to and including `expiresAt`). */
export function openInvites(state: GroupState, now: number = Date.now()): InviteInfo[] {
  return [...state.invites.values()].filter((i) => !i.usedBy && i.revokedAt === undefined && i.expiresAt >= now);
}

/** Everyone a new generation's seed must be sealed to: members (with the recovery recipient) and open pre-keyed invites. */
export function seedRecipients(state: GroupState, now: number = Date.now()): Array<{ kind: 'member'; id: Fingerprint; boxKey: Bytes } | { kind: 'invite'; id: InviteId; boxKey: string }> {
  const members = [...state.members.values()].map((m) => ({ kind: 'member' as const, id: m.fingerprint, boxKey: m.boxKey }));
  const invites = openInvites(state, now)
    .filter((i) => i.boxKey !== undefined)
    .map((i) => ({ kind: 'invite' as const, id: i.id, boxKey: i.boxKey! }));
  return [...members, ...invites];
}
