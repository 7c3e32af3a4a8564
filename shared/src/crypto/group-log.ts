/**
 * The signed group log (DESIGN §4): entries, their hashes and signatures, and the
 * state a validated log describes. Replaying and validating is in `log-replay.ts`.
 */
import { labelled } from '../protocol/canonical.ts';
import { concatBytes, fromBase64url, toBase64url, utf8 } from '../protocol/encoding.ts';
import type { EntryHash, Fingerprint, GroupId, InviteId, Role } from '../protocol/ids.ts';
import { PROTOCOL_VERSION, type HandoverPolicy, type LogBody, type LogEntry, type LogHead, type LogOp, type PublicBundle, type SeedLink, type UnsignedLogEntry } from '../protocol/schemas.ts';
import type { Bytes } from '../protocol/encoding.ts';
import type { PersonState } from './device-chain.ts';
import { LogVerificationError } from './errors.ts';
import { signLabelled, type DeviceIdentity } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256NowOfParts } from './primitives.ts';

/**
 * A member is a person (DESIGN §3): named by the fingerprint of the device that founded
 * their device chain, speaking through any of its current devices.
 */
export interface MemberInfo {
  /** The person's id: the founding device's fingerprint (it stays when that device is unlinked). */
  fingerprint: Fingerprint;
  /** The founding device's bundle: what the safety number is computed over. */
  bundle: PublicBundle;
  role: Role;
  /** Sequence number of the entry that made them a member. */
  joinedSeq: number;
  /** How they came in: trust in them starts from this (an invite link is weaker than a verified scan). */
  via: 'create' | 'admin' | 'invite' | 'recovery';
  invite?: InviteId;
  /** Their device chain as far as this log has acknowledged it; null for the recovery recipient (a single key). */
  chain: PersonState | null;
}

/** A device that currently speaks for a member: it signs entries, boxes and notes, and receives boxes. */
export interface GroupDevice {
  fingerprint: Fingerprint;
  /** The member (person) it belongs to. */
  person: Fingerprint;
  bundle: PublicBundle;
  signKey: Bytes;
  boxKey: Bytes;
}

/** A device that no longer speaks for anyone here; its earlier signatures still verify. */
export interface DepartedDevice {
  fingerprint: Fingerprint;
  person: Fingerprint;
  bundle: PublicBundle;
  seq: number;
  how: 'removed' | 'left' | 'replaced' | 'unlinked';
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
  /** The device that started it (an admin's, the creator's for generation 0, or a member's unlinking one of their own): a broken generation is attributed to it. */
  startedBy: Fingerprint;
  seedCommitment: string;
  /** Earlier seeds wrapped under this generation's prev key (empty for generation 0). */
  links: SeedLink[];
  /** Every person who was a member at some point while this generation was current. */
  people: Set<Fingerprint>;
  /** Every device that spoke for a member at some point while this generation was current. */
  devices: Set<Fingerprint>;
}

export interface InviteInfo {
  id: InviteId;
  seq: number;
  /** The device that wrote it. */
  author: Fingerprint;
  /** The person it belongs to: it dies when they stop being an admin. */
  person: Fingerprint;
  expiresAt: number;
  role: Role;
  /** Present for a pre-keyed invite: the X25519 key the seed is sealed to. */
  boxKey?: string;
  /** The person who accepted it. */
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
  /** Current members (people), by person id. */
  members: Map<Fingerprint, MemberInfo>;
  /** Every current device of every current member, by device fingerprint. */
  devices: Map<Fingerprint, GroupDevice>;
  departed: Map<Fingerprint, DepartedMember>;
  departedDevices: Map<Fingerprint, DepartedDevice>;
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
  return toBase64url(sha256NowOfParts(ENTRY_HASH_PREFIX, signingInput, fromBase64url(sig, 64))) as EntryHash;
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

/** The member a current device speaks for; undefined for a device that is not (or no longer) one. */
export function memberOfDevice(state: GroupState, device: Fingerprint): MemberInfo | undefined {
  const current = state.devices.get(device);
  return current ? state.members.get(current.person) : undefined;
}

/** The current devices of one member (a person, or the recovery key). */
export function devicesOf(state: GroupState, person: Fingerprint): GroupDevice[] {
  return [...state.devices.values()].filter((d) => d.person === person);
}

/** Every device that speaks or spoke for `person` in this log, and the person id itself. */
export function devicesEverOf(state: GroupState, person: Fingerprint): Set<Fingerprint> {
  const devices = new Set<Fingerprint>([person]);
  for (const d of state.devices.values()) if (d.person === person) devices.add(d.fingerprint);
  for (const d of state.departedDevices.values()) if (d.person === person) devices.add(d.fingerprint);
  return devices;
}

/** A device's sign key while it speaks for a member, or for the boxes and notes of its time after. */
export function signKeyOfDevice(state: GroupState, device: Fingerprint): Bytes | undefined {
  const current = state.devices.get(device);
  if (current) return current.signKey;
  const departed = state.departedDevices.get(device);
  return departed ? fromBase64url(departed.bundle.signKey, 32) : undefined;
}

/** The person a device speaks (or spoke) for in this group. */
export function personOfDevice(state: GroupState, device: Fingerprint): Fingerprint | undefined {
  return state.devices.get(device)?.person ?? state.departedDevices.get(device)?.person;
}

/** True when `device` speaks for a current admin. */
export function isAdmin(state: GroupState, device: Fingerprint): boolean {
  return memberOfDevice(state, device)?.role === 'admin';
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

/** Everyone a new generation's seed must be sealed to: every current device of every member (with the recovery key) and open pre-keyed invites. */
export function seedRecipients(state: GroupState, now: number = Date.now()): Array<{ kind: 'member'; id: Fingerprint; boxKey: Bytes } | { kind: 'invite'; id: InviteId; boxKey: string }> {
  const members = [...state.devices.values()].map((d) => ({ kind: 'member' as const, id: d.fingerprint, boxKey: d.boxKey }));
  const invites = openInvites(state, now)
    .filter((i) => i.boxKey !== undefined)
    .map((i) => ({ kind: 'invite' as const, id: i.id, boxKey: i.boxKey! }));
  return [...members, ...invites];
}
