/**
 * The storage interface, implemented by `sqlite.ts` (default: one file, WAL) and
 * `postgres.ts` (`DATABASE_URL`). Both pass the same contract tests
 * (storage-api/test/store-contract.test.ts). Values are stored as the JSON the wire
 * carries; the store never interprets a signature, a key or a ciphertext.
 *
 * Compare-and-set is the store's job: `appendEntries` and `putNoteVersion` succeed for
 * exactly one of any number of concurrent writers of the same position.
 */
import type { EntryHash, Fingerprint, GroupId, InviteId, NoteId } from '@conclave/shared/verify';
import type { DeviceEntry, KeyBox, LogEntry, LogHead, NoteEnvelope, PublicBundle } from '@conclave/shared/verify';
import type { NoteHeader } from '@conclave/shared/verify';

/** A device's standing in a group (the index is by device: the session is a device). */
export type MembershipStatus = 'member' | 'removed' | 'left' | 'replaced' | 'unlinked';

/** Index rows the API derives from a validated append, written in the same transaction. */
export interface AppendIndexes {
  /** Membership changes: one row per (group, fingerprint); `untilSeq` for departures. */
  memberships: Array<{ fingerprint: Fingerprint; status: MembershipStatus; sinceSeq: number; untilSeq: number | null }>;
  /** Invites the entries create: looked up by invite id. */
  invites: Array<{ inviteId: InviteId }>;
  /** Key boxes that travel with the entries (a rotation's). */
  boxes: KeyBox[];
}

export type AppendResult = { ok: true; head: LogHead } | { ok: false; head: LogHead | null };

/** What a validated chain append changes in the device index. */
export interface ChainDeviceChanges {
  /** Devices the entries link (or the found entry founds), with the entry that did. */
  linked: Array<{ device: Fingerprint; seq: number }>;
  /** Devices the entries unlink, with the entry that did. */
  unlinked: Array<{ device: Fingerprint; seq: number }>;
}

/**
 * `claimed`: a device the entries link already speaks (or spoke) for another person;
 * the device index keeps one person per device, ever.
 */
export type ChainAppendResult = { ok: true; head: LogHead } | { ok: false; head: LogHead | null } | { ok: false; claimed: { device: Fingerprint; person: Fingerprint } };

/** The person a device belongs to in the stored chains, and whether it was unlinked. */
export interface DeviceStanding {
  person: Fingerprint;
  /** The chain entry that unlinked it; null while it is a current device. */
  unlinkedSeq: number | null;
}

/**
 * `staleHead`: the caller checked the put against a group state whose head is no longer
 * the group's current one (the log moved, or the group is gone); nothing was written.
 */
/**
 * A put's outcome: written (its list cursor), a version conflict, a stale group head
 * (`checkedAt` is no longer the head), or `unlinked`: the author device was unlinked by
 * its person when the put would have committed (a chain append, which does not move the group head).
 */
export type NotePutResult =
  | { ok: true; cursor: number }
  | { ok: false; currentVersion: number; staleHead?: undefined; unlinked?: undefined }
  | { ok: false; staleHead: true; currentVersion?: undefined; unlinked?: undefined }
  | { ok: false; unlinked: true; currentVersion?: undefined; staleHead?: undefined };

/** A note to read with a member call's other reads (`Store.memberView`). */
export interface NoteToRead {
  noteId: NoteId;
  /** A stored version; the newest when omitted. */
  version?: number;
}

/**
 * What one member call needs to know before it acts, read from one snapshot of the
 * database (one statement on PostgreSQL, one read transaction on SQLite).
 */
export interface MemberView {
  /** The session the token hash names, unexpired at `now`; null otherwise. */
  session: { fingerprint: Fingerprint; expiresAt: number } | null;
  /** Whether a stored chain has unlinked the session's device (false without a session). */
  unlinked: boolean;
  /** The group's head; null for an unknown group or when no group id was given. */
  head: LogHead | null;
  /** With a `NoteToRead`: that note's envelope (null when it is not stored); otherwise absent. */
  note?: NoteEnvelope | null;
}

/**
 * A validated group state persisted by services/group-states.ts: the state after entry
 * `seq` (whose hash is `hash`), encoded as `format`. The store keeps it as text and
 * never reads it.
 */
export interface StoredCheckpoint {
  seq: number;
  hash: EntryHash;
  format: string;
  data: string;
}

export interface StoredNoteHeader {
  header: NoteHeader;
  cursor: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates tables (idempotent migrations). */
  migrate(): Promise<void>;
  close(): Promise<void>;

  // identities
  putIdentity(fingerprint: Fingerprint, bundle: PublicBundle): Promise<void>;
  getIdentity(fingerprint: Fingerprint): Promise<PublicBundle | null>;

  // login challenges: single use
  putChallenge(id: string, challenge: string, expiresAt: number): Promise<void>;
  /** Removes and returns the challenge if it exists and has not expired at `now`. */
  takeChallenge(id: string, now: number): Promise<string | null>;

  // sessions: only the SHA-256 of a token is stored
  putSession(tokenHash: string, fingerprint: Fingerprint, expiresAt: number): Promise<void>;
  getSession(tokenHash: string, now: number): Promise<{ fingerprint: Fingerprint; expiresAt: number } | null>;
  deleteSession(tokenHash: string): Promise<void>;
  /**
   * A member call's reads in one snapshot: the session of `tokenHash` at `now`, whether
   * its device is unlinked, the head of `groupId` (when given) and `note` (when given,
   * in `groupId`).
   */
  memberView(tokenHash: string, now: number, groupId: GroupId | null, note?: NoteToRead): Promise<MemberView>;
  /** Housekeeping: expired challenges, sessions and link offers. */
  purgeExpired(now: number): Promise<void>;

  // people: device chains, one hash-linked chain per person, and the device index
  /** The person's whole chain (in order) and head, or null. */
  getChain(person: Fingerprint): Promise<{ entries: DeviceEntry[]; head: LogHead } | null>;
  /**
   * Appends `entries` (consecutive, from `entries[0].seq`) if and only if the person's
   * head is `entries[0].seq - 1` (or the person is new and seq is 0), with the device
   * index changes, atomically. A device linked here that the index already holds for
   * another person fails the whole append (`claimed`).
   */
  appendChain(person: Fingerprint, entries: DeviceEntry[], head: LogHead, changes: ChainDeviceChanges): Promise<ChainAppendResult>;
  /** The person whose chain names `device`, or null. */
  deviceStanding(device: Fingerprint): Promise<DeviceStanding | null>;
  /** Those of `devices` that a stored chain has unlinked. */
  unlinkedDevices(devices: readonly Fingerprint[]): Promise<Set<Fingerprint>>;

  // link offers: a new device waiting to be linked, by a lookup derived from its code
  /**
   * Stores the offer unless another device holds an unexpired offer under `lookup`
   * (then false). The same device may renew its own offer.
   */
  putLinkOffer(lookup: string, device: Fingerprint, bundle: PublicBundle, expiresAt: number, now: number): Promise<boolean>;
  /** The offer under `lookup` if it has not expired at `now`. */
  findLinkOffer(lookup: string, now: number): Promise<{ bundle: PublicBundle; expiresAt: number } | null>;

  // group logs
  getHead(groupId: GroupId): Promise<LogHead | null>;
  /** Entries with `fromSeq ≤ seq < fromSeq + limit` (and `seq ≤ untilSeq` when given), in order. */
  readLog(groupId: GroupId, fromSeq: number, limit: number, untilSeq?: number): Promise<LogEntry[]>;
  /**
   * Appends `entries` (consecutive, starting at `entries[0].seq`) if and only if the
   * group's head is `entries[0].seq - 1` (or the group does not exist and seq is 0),
   * together with `indexes`, atomically. Returns the current head on a conflict.
   */
  appendEntries(groupId: GroupId, entries: LogEntry[], head: LogHead, indexes: AppendIndexes): Promise<AppendResult>;
  /** Groups a device is or was in, with its status and the group's head. */
  groupsOf(fingerprint: Fingerprint): Promise<Array<{ groupId: GroupId; status: MembershipStatus; untilSeq: number | null; head: LogHead }>>;
  membership(groupId: GroupId, fingerprint: Fingerprint): Promise<{ status: MembershipStatus; untilSeq: number | null } | null>;
  findInvite(inviteId: InviteId): Promise<GroupId | null>;

  // checkpoints of validated group states: the newest per group
  /** Keeps `checkpoint` unless the group's stored one is at a higher seq. */
  putCheckpoint(groupId: GroupId, checkpoint: StoredCheckpoint): Promise<void>;
  getCheckpoint(groupId: GroupId): Promise<StoredCheckpoint | null>;
  /** Deletes the group's checkpoint (only if it is still the one at `seq`, when given). */
  deleteCheckpoint(groupId: GroupId, seq?: number): Promise<void>;

  // key boxes: one per (group, generation, recipient, sender); a sender's later post
  // replaces its own box, never another sender's
  putBoxes(boxes: KeyBox[]): Promise<void>;
  /**
   * Every sender's box for `recipient` (at `generation`, or at all), ordered by
   * generation (oldest first), then by sender fingerprint (byte order).
   */
  boxesFor(groupId: GroupId, recipient: KeyBox['recipient'], generation?: number): Promise<KeyBox[]>;
  /**
   * Members who posted a box to themselves (sender = recipient) at `generation`: the
   * confirmation that they opened that generation's key.
   */
  recipientsWithOwnBox(groupId: GroupId, generation: number): Promise<Set<Fingerprint>>;

  // the mailbox: a member waiting for the key
  putKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number, at: number): Promise<void>;
  keyRequests(groupId: GroupId): Promise<Array<{ fingerprint: Fingerprint; generation: number; requestedAt: number }>>;
  /** A request served: deletes the member's request if it asked at `generation` or below. */
  deleteKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number): Promise<void>;

  // notes: versions with compare-and-set; a list cursor that only moves forward
  /**
   * Stores version `envelope.version` if the note's current version is exactly one less
   * (0: new note) and, when `checkedAt` is given, only if the group's head is still
   * `checkedAt` when the write commits (else `staleHead`): the caller's membership and
   * generation checks were made against the current log. On PostgreSQL a log append
   * waits for the put, or the put sees the append's head.
   */
  putNoteVersion(envelope: NoteEnvelope, header: NoteHeader, checkedAt?: LogHead): Promise<NotePutResult>;
  getNote(groupId: GroupId, noteId: NoteId, version?: number): Promise<NoteEnvelope | null>;
  /** Latest headers of notes changed after `since`, oldest change first. */
  listNotes(groupId: GroupId, since: number, limit: number): Promise<StoredNoteHeader[]>;
  /** The cursor a `listNotes` from 0 ends at: the group's newest change (0: no note yet). */
  noteCursor(groupId: GroupId): Promise<number>;
  /** `noteCursor` of each of `groupIds` in one query (a live stream's heads); every id is in the answer. */
  noteCursors(groupIds: readonly GroupId[]): Promise<Map<GroupId, number>>;
}
