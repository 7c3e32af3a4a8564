/**
 * This device's database (IndexedDB through Dexie). The background owns it; pages
 * never open it. Each table is marked secret or public: a secret table holds what
 * must never leave this device (private keys, seeds, plaintext, names), and the
 * extension's tests check that every table has a mark.
 */
import Dexie, { type EntityTable, type Table } from 'dexie';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import type { GroupClientOptions, GroupRecord } from '@conclave/shared/client';
import type { PersonState } from '@conclave/shared/crypto';
import type { SeenNote } from '@conclave/shared/client';
import type { NoteFailure } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { KeyWaitView, Settings } from '../messages/views.ts';

export const DB_NAME = 'conclave';

/** A generation seed as stored, sealed under the device key (db/at-rest.ts): nonce ‖ ciphertext ‖ tag of the 32-byte seed. */
export interface SealedSeed {
  sealed: Uint8Array;
}

export interface IdentityRow {
  id: 'device';
  /** Private halves are non-extractable CryptoKeys: usable here, never exportable. */
  identity: DeviceIdentity;
  displayName: string;
  createdAt: number;
}

export interface GroupRow extends Omit<GroupRecord, 'seeds'> {
  /** The seeds, sealed under the device key (db/at-rest.ts); `DexieKeyStore.load` opens them. */
  seeds: Map<number, SealedSeed>;
  /** The group's name, decrypted on this device (null until the key is here). */
  name: string | null;
  /** The log was found forked or rolled back: what was seen, shown as a red banner. */
  alarm: string | null;
  /** This device was removed from the group (it keeps what it already read). */
  removed: boolean;
  /** Newest notes cursor seen by the list, and the one the person has looked at. */
  notesCursor: number;
  seenCursor: number;
  joinedAt: number;
  /**
   * What the notes cache was last brought up to date with: the generations held and
   * the log's length (see background/note-cache.ts). Absent: never, or by a version
   * that did not keep failures — the next listing starts again from cursor 0.
   */
  notesStamp?: string;
}

/**
 * How this device trusts another person. Keyed by person id (the fingerprint of the
 * device that founded their device chain): verifying a person covers the devices their
 * own devices certify later.
 */
export interface TrustRow {
  fingerprint: Fingerprint;
  state: 'verified' | 'key-changed';
  how: 'qr' | 'safety-number';
  at: number;
}

/** Display names by person id, learnt from members' encrypted profile notes. */
export interface NameRow {
  fingerprint: Fingerprint;
  name: string;
}

/**
 * Decrypted note headers, for the list and local title search — and the notes this
 * device could not open, with why (a failure row has an empty title).
 */
export interface NoteRow {
  groupId: GroupId;
  noteId: NoteId;
  version: number;
  title: string;
  author: Fingerprint;
  at: number;
  deleted: boolean;
  /** Set when this version could not be opened: tried again when keys or the log change. */
  failure?: NoteFailure;
  /** The opener's words for the failure (no secret detail). */
  failureMessage?: string;
  /** The server later listed this note at this older version (a rollback): the row kept its newer one. */
  rolledBackTo?: number;
  /** Written by a member who has since departed, and first seen here after they did (client/notes.ts). */
  lateFromDeparted?: boolean;
  /**
   * The version's text, sealed under the device key (db/at-rest.ts `sealNoteBody`): kept
   * so a member removed from the group still reads, read-only, what this device opened.
   */
  sealedBody?: Uint8Array;
}

/**
 * What this device has verified of each note (shared/src/client/note-store.ts): the
 * newest version seen, its hash, generation, author, whether it is a signed deletion,
 * and the log position at which it was first seen. Hashes and numbers, no title or body.
 */
export interface SeenNoteRow extends SeenNote {
  groupId: GroupId;
}

/** Per group, under the reserved note id '': the log position from which this device tracks its notes. */
export interface NoteTrackRow {
  groupId: GroupId;
  noteId: '';
  trackedFrom: number;
  /** When the server's whole note list was last compared with what this device saw. */
  fullCheckAt?: number;
}

/** Unfinished page flows (form contents, step), so closing a popup loses nothing. */
export interface DraftRow {
  key: string;
  value: unknown;
  at: number;
}

/** A recovery code shown to an admin (new group, or replaced), kept only until they confirm saving it. */
export interface PendingRecoveryRow {
  groupId: GroupId;
  /** The code, sealed under the device key (db/at-rest.ts): never in clear at rest. */
  sealed: Uint8Array;
  /** Made by "Replace the recovery code" rather than with the group. */
  replaced: boolean;
}

/** The non-extractable AES-GCM key that seals secrets at rest (db/at-rest.ts). */
export interface DeviceKeyRow {
  id: 'at-rest';
  key: CryptoKey;
}

export interface KeyWaitRow extends KeyWaitView {
  groupId: GroupId;
}

export interface SettingsRow extends Settings {
  id: 'settings';
}

/** The QR codes this device is showing: the one-time secret a scanner echoes back. */
export interface ShownQrRow {
  groupId: GroupId;
  peer: Fingerprint;
  secret: string;
  at: number;
}

/** The SDK's port for device chains (`GroupClientOptions.people`), and the record it keeps of this device's person. */
export type PersonStore = NonNullable<GroupClientOptions['people']>;
export type PersonRecord = NonNullable<Awaited<ReturnType<PersonStore['load']>>>;

/**
 * This device's own person (SDK `PersonRecord`): the device chain it speaks for (public:
 * the server holds it too), the head it pinned, and the profile (the person's name and
 * settings, handed to a device it links — kept here like the `names` table, never sent
 * to the server).
 */
export interface PersonRow extends PersonRecord {
  id: 'me';
}

/** Other people's device chains as this device validated and pinned them (public). */
export type KnownPersonRow = PersonState;

export type Secrecy = 'secret' | 'public';

/** Every table, marked. A table without a mark fails the extension's tests. */
export const TABLE_SECRECY = {
  identity: 'secret',
  groups: 'secret',
  trust: 'public',
  names: 'secret',
  notes: 'secret',
  drafts: 'secret',
  pendingRecovery: 'secret',
  keyWaits: 'public',
  settings: 'public',
  shownQr: 'secret',
  deviceKey: 'secret',
  seenNotes: 'public',
  person: 'secret',
  people: 'public',
} as const satisfies Record<string, Secrecy>;

/**
 * The one module that reads and writes each table (paths under extension/src): every
 * other module goes through its functions. extension/test/platform/table-owners.test.ts
 * fails when a second module touches a table.
 */
export const TABLE_OWNERS = {
  identity: 'db/identity.ts',
  groups: 'db/key-store.ts',
  trust: 'background/trust.ts',
  names: 'background/trust.ts',
  notes: 'background/note-rows.ts',
  drafts: 'background/drafts.ts',
  pendingRecovery: 'background/recovery-codes.ts',
  keyWaits: 'background/key-wait-rows.ts',
  settings: 'background/settings.ts',
  shownQr: 'background/shown-qr.ts',
  deviceKey: 'db/at-rest.ts',
  seenNotes: 'db/note-store.ts',
  person: 'db/person-store.ts',
  people: 'db/person-store.ts',
} as const satisfies Record<keyof typeof TABLE_SECRECY, string>;

export type ConclaveDb = Dexie & {
  identity: EntityTable<IdentityRow, 'id'>;
  groups: EntityTable<GroupRow, 'groupId'>;
  trust: EntityTable<TrustRow, 'fingerprint'>;
  names: EntityTable<NameRow, 'fingerprint'>;
  notes: EntityTable<NoteRow, 'noteId'>;
  drafts: EntityTable<DraftRow, 'key'>;
  pendingRecovery: EntityTable<PendingRecoveryRow, 'groupId'>;
  keyWaits: EntityTable<KeyWaitRow, 'groupId'>;
  settings: EntityTable<SettingsRow, 'id'>;
  shownQr: EntityTable<ShownQrRow, 'groupId'>;
  deviceKey: EntityTable<DeviceKeyRow, 'id'>;
  seenNotes: Table<SeenNoteRow | NoteTrackRow, [GroupId, string]>;
  person: EntityTable<PersonRow, 'id'>;
  people: EntityTable<KnownPersonRow, 'person'>;
};

export function openDb(name: string = DB_NAME): ConclaveDb {
  const db = new Dexie(name) as ConclaveDb;
  db.version(1).stores({
    identity: 'id',
    groups: 'groupId',
    trust: 'fingerprint',
    names: 'fingerprint',
    notes: '[groupId+noteId], groupId',
    drafts: 'key',
    pendingRecovery: 'groupId',
    keyWaits: 'groupId',
    settings: 'id',
    shownQr: '[groupId+peer], groupId',
  });
  // Failure rows, found without reading every note of a group (rows without one are not indexed).
  db.version(2).stores({
    notes: '[groupId+noteId], groupId, [groupId+failure]',
  });
  // The device key that seals seeds and pending recovery codes at rest.
  db.version(3).stores({ deviceKey: 'id' });
  // What this device has seen of each note (db/note-store.ts), so a server cannot rewind or hide one.
  db.version(4).stores({ seenNotes: '[groupId+noteId], groupId' });
  // Protocol v3: this device's person (its device chain, pinned) and the chains of others it pinned.
  db.version(5).stores({ person: 'id', people: 'person' });
  return db;
}
