/**
 * Notes through the storage API (DESIGN §5): seal and put a version with
 * compare-and-set, list headers incrementally, open envelopes with this device's
 * seeds. A title is shown only after the author's signature holds, and the signature
 * covers the body's digest, so listing fetches each listed version whole.
 *
 * `NoteGuard` adds this device's memory (a `NoteStore`) and the chain rules, so a
 * lying server is caught by name:
 * - a version's `prev` must be the hash of the version before it (`broken-chain`), and
 *   its generation must not be older than that version's (`generation-went-back`);
 * - a version newer than the one this device saw must chain back to it, and one at a
 *   version it saw must be the same (`forked`);
 * - a note served older than the version this device saw is flagged (`rolled-back`);
 * - a note this device saw, missing from a full listing or answered NOT_FOUND without a
 *   signed deletion, is reported (`vanished`);
 * - a version by a member who has since departed, at a generation they held, that this
 *   device first sees after their departure although it was tracking the group before
 *   it, is flagged (`late-from-departed`).
 */
import { generationKeys } from '../crypto/generations.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { NoteOpenError, openNote, sealNote, verifyNoteHashed, type NoteFailure, type NotePlaintext } from '../crypto/note-envelope.ts';
import { noteVersionHash } from '../crypto/note-signature.ts';
import { NOTE_LIST_MAX, type NoteHeader } from '../protocol/api.ts';
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';
import type { NoteEnvelope } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { ApiCallError, call } from './errors.ts';
import type { NoteStore, SeenNote } from './note-store.ts';
import type { NoteWarning, OpenedNote } from './opened-note.ts';
import type { MetaNames } from './meta-names.ts';

export type { NoteWarning, NoteWarningCode, OpenedNote } from './opened-note.ts';

/** One line of a note list: the note's newest version, opened, or why it could not be. */
export type ListedNote =
  | ({ ok: true } & Omit<OpenedNote, 'body'> & { bodyBytes: number })
  | { ok: false; noteId: NoteId; version: number; author: Fingerprint; reason: NoteFailure; message: string };

/** One version of a note's history, its place in the chain verified; decrypted when this device can. */
export type NoteVersion =
  | ({ ok: true; hash: string; prev: string | null } & Omit<OpenedNote, 'warnings'>)
  | { ok: false; noteId: NoteId; version: number; generation: number; author: Fingerprint; at: number; deleted: boolean; hash: string; prev: string | null; reason: NoteFailure; message: string };

export interface NoteList {
  notes: ListedNote[];
  /** Pass back as `since` to get only notes changed afterwards. */
  cursor: number;
  /** The names the listed meta notes carry (meta-names.ts). */
  names: MetaNames;
}

/** Derives (and caches, in memory only) a generation's note key. */
export class NoteKeys {
  private readonly cache = new Map<string, Promise<Uint8Array>>();

  keyFor(groupId: GroupId, seeds: ReadonlyMap<number, Uint8Array>): (generation: number) => Promise<Uint8Array | undefined> {
    return async (generation) => {
      const seed = seeds.get(generation);
      if (!seed) return undefined;
      const id = `${groupId}/${generation}`;
      let key = this.cache.get(id);
      if (!key) {
        key = generationKeys(seed, groupId, generation).then((k) => k.noteKey);
        this.cache.set(id, key);
      }
      return key;
    };
  }

  forget(groupId: GroupId): void {
    for (const id of this.cache.keys()) if (id.startsWith(`${groupId}/`)) this.cache.delete(id);
  }
}

/**
 * Seals and stores one note version.
 * @throws {NoteConflictError} when another version `version` (or later) is already stored.
 */
export async function putNote(
  api: ApiClient,
  identity: DeviceIdentity,
  state: GroupState,
  generation: number,
  noteKey: Uint8Array,
  address: { noteId: NoteId; version: number },
  content: NotePlaintext,
  options: { deleted?: boolean; at?: number; prev?: string | null } = {},
): Promise<NoteEnvelope> {
  const envelope = await sealNote(identity, { groupId: state.groupId, noteId: address.noteId, version: address.version, generation }, noteKey, content, options);
  await call('storing the note', () => api.notes.put.mutate({ envelope }));
  return envelope;
}

function openedOf(e: NoteEnvelope, plaintext: NotePlaintext, warnings: NoteWarning[]): OpenedNote {
  return { noteId: e.noteId, version: e.version, generation: e.generation, author: e.author, at: e.at, deleted: e.deleted, title: plaintext.title, body: plaintext.body, warnings };
}

/** Every note header changed after `since` (the newest listed version of each), following the server's cursor in pages as large as the API allows. */
export async function listHeaders(api: ApiClient, groupId: GroupId, since: number): Promise<{ items: NoteHeader[]; cursor: number }> {
  const latest = new Map<NoteId, NoteHeader>();
  let cursor = since;
  for (;;) {
    const page = await call('listing notes', () => api.notes.list.query({ groupId, since: cursor, limit: NOTE_LIST_MAX }));
    for (const item of page.items) {
      const seen = latest.get(item.noteId);
      if (!seen || seen.version < item.version) latest.set(item.noteId, item);
    }
    // A cursor that does not move would loop forever: stop rather than trust it.
    if (!page.more || page.cursor <= cursor) return { items: [...latest.values()], cursor: Math.max(cursor, page.cursor) };
    cursor = page.cursor;
  }
}

/** Why a note this device saw is gone: the server dropped it without a signed deletion. */
export const VANISHED = 'the server no longer has this note, which this device saw, and it holds no signed deletion of it: the server removed it';

/** Versions of a note fetched at once while walking its chain. */
const CHAIN_AT_ONCE = 10;

/**
 * Opens notes with this device's memory of them (see the module note). One guard
 * serves one group state; it records in `store` every version it verifies as newest.
 */
export class NoteGuard {
  private constructor(
    private readonly api: ApiClient,
    private readonly state: GroupState,
    private readonly keyFor: (generation: number) => Promise<Uint8Array | undefined>,
    private readonly store: NoteStore,
    /** The log position from which this device has tracked the group's notes. */
    readonly trackedFrom: number,
  ) {}

  /** A guard for `state`; starts tracking the group at its current log position if not yet tracked. */
  static async start(api: ApiClient, state: GroupState, keyFor: (generation: number) => Promise<Uint8Array | undefined>, store: NoteStore): Promise<NoteGuard> {
    await store.track(state.groupId, state.seq);
    return new NoteGuard(api, state, keyFor, store, (await store.trackedFrom(state.groupId)) ?? state.seq);
  }

  private get groupId(): GroupId {
    return this.state.groupId;
  }

  /**
   * Fetches, opens and checks one note version against what this device saw (the newest
   * when `version` is omitted), and records it when it is newer.
   * @param options.asNewest the server gave this version as the newest (a listing):
   *   older than the one seen is then a rollback. True when `version` is omitted.
   * @param options.fetched the server's answer for this version, already asked for (in
   *   the same HTTP batch as the log sync); fetched here when absent.
   * @throws {NoteOpenError} `forked`, `broken-chain`, `generation-went-back`, `vanished`,
   *   or why the envelope itself cannot be opened.
   */
  async read(noteId: NoteId, version?: number, options: { asNewest?: boolean; fetched?: Promise<unknown> } = {}): Promise<OpenedNote> {
    return (await this.readHashed(noteId, version, options)).note;
  }

  private async readHashed(noteId: NoteId, version?: number, options: { asNewest?: boolean; fetched?: Promise<unknown> } = {}): Promise<{ note: OpenedNote; hash: string }> {
    const asNewest = options.asNewest ?? version === undefined;
    const [seen] = await this.store.get(this.groupId, [noteId]);
    let raw: unknown;
    try {
      raw = await (options.fetched ?? this.fetch(noteId, version));
    } catch (error) {
      if (asNewest && seen && !seen.deleted && error instanceof ApiCallError && error.is('NOT_FOUND')) throw new NoteOpenError('vanished', VANISHED);
      throw error;
    }
    const opened = await openNote(raw, this.state, { noteId, ...(version !== undefined ? { version } : {}) }, this.keyFor);
    const { envelope, hash } = opened;
    const warnings = await this.check(envelope, hash, seen, asNewest);
    return { note: openedOf(envelope, opened, warnings), hash };
  }

  /**
   * Every version of a note, newest first, verified as one chain from version 1 to the
   * newest (and against what this device saw). A version this device cannot decrypt is
   * listed with why; a broken link throws.
   * @throws {NoteOpenError} as `read`, or `broken-chain` when a version is missing.
   */
  async history(noteId: NoteId): Promise<NoteVersion[]> {
    const newest = await this.readHashed(noteId);
    const versions: NoteVersion[] = [];
    let newer: NoteEnvelope | null = null;
    for (let top = newest.note.version; top >= 1; top -= CHAIN_AT_ONCE) {
      const wanted = Array.from({ length: Math.min(CHAIN_AT_ONCE, top) }, (_, i) => top - i);
      const fetched = await Promise.all(wanted.map((v) => this.fetchRaw(noteId, v)));
      for (const [i, raw] of fetched.entries()) {
        const { envelope, hash, entry } = await this.historyEntry(raw, noteId, wanted[i]!);
        if (newer) linkOrThrow(newer, { version: envelope.version, hash, generation: envelope.generation });
        else if (hash !== newest.hash) throw new NoteOpenError('forked', FORKED);
        versions.push(entry);
        newer = envelope;
      }
    }
    return versions;
  }

  /**
   * The `prev` a new version `version` must carry: the hash of version `version - 1`,
   * which this device must have verified (fetched when it has not seen it).
   * @returns null for version 1; `{ currentVersion }` when the server's newest version is
   *   not `version - 1` (someone else wrote first: read it, merge, retry).
   */
  async prevFor(noteId: NoteId, version: number): Promise<{ prev: string | null } | { currentVersion: number }> {
    if (version === 1) return { prev: null };
    const [seen] = await this.store.get(this.groupId, [noteId]);
    if (seen?.version === version - 1) return { prev: seen.hash };
    // This device has already seen that version or a newer one: never sign a rival to it,
    // whatever the server now serves as the newest.
    if (seen && seen.version >= version) return { currentVersion: seen.version };
    let raw: unknown;
    try {
      raw = await this.fetch(noteId);
    } catch (error) {
      if (error instanceof ApiCallError && error.is('NOT_FOUND')) return { currentVersion: 0 };
      throw error;
    }
    const { envelope, hash } = await verifyNoteHashed(raw, this.state, { noteId });
    await this.check(envelope, hash, seen, true);
    return envelope.version === version - 1 ? { prev: hash } : { currentVersion: envelope.version };
  }

  /** Records a version this device has just stored. */
  async written(envelope: NoteEnvelope): Promise<void> {
    await this.store.record(this.groupId, [seenOf(envelope, await noteVersionHash(envelope), this.state.seq)]);
  }

  /** Of the notes this device saw, those not among `listed` and not deleted by a signed version. */
  async vanished(listed: readonly NoteId[]): Promise<SeenNote[]> {
    const present = new Set(listed);
    return (await this.store.all(this.groupId)).filter((seen) => !seen.deleted && !present.has(seen.noteId));
  }

  /**
   * The chain rules and this device's memory, for a verified envelope (see the module
   * note); records it when it is the newest this device has seen.
   */
  async check(envelope: NoteEnvelope, hash: string, seen: SeenNote | undefined, asNewest: boolean): Promise<NoteWarning[]> {
    const warnings: NoteWarning[] = [];
    let firstSeenAt = this.state.seq;
    if (seen && envelope.version === seen.version) {
      if (hash !== seen.hash) throw new NoteOpenError('forked', FORKED);
      firstSeenAt = seen.seenAtSeq;
    } else if (seen && envelope.version < seen.version) {
      if (asNewest) {
        warnings.push({
          code: 'rolled-back',
          seenVersion: seen.version,
          message: `the server gave version ${envelope.version} of this note as the newest, but this device has already seen version ${seen.version}`,
        });
      }
    } else if (seen) {
      // Newer than what this device saw: it must chain back to exactly that version.
      await this.chainBack(envelope, seen, FORKED);
    } else if (envelope.version > 1 && this.state.departedDevices.has(envelope.author)) {
      // A departed member's version this device never saw: check it continues the version
      // before it (a newer generation there means it was written with an old key afterwards).
      const [older] = await this.fetchVerified(envelope.noteId, [envelope.version - 1]);
      linkOrThrow(envelope, older!);
    }
    const departed = this.state.departedDevices.get(envelope.author);
    if (departed && this.trackedFrom < departed.seq && firstSeenAt >= departed.seq) {
      warnings.push({
        code: 'late-from-departed',
        author: envelope.author,
        departedSeq: departed.seq,
        how: departed.how,
        message: departedMessage(departed.how),
      });
    }
    if (!seen || envelope.version > seen.version) await this.store.record(this.groupId, [seenOf(envelope, hash, firstSeenAt)]);
    return warnings;
  }

  /** Walks from `envelope` back to the version this device saw, checking every link. */
  private async chainBack(envelope: NoteEnvelope, seen: SeenNote, forked: string): Promise<void> {
    let newer = envelope;
    for (let top = envelope.version - 1; top > seen.version; top -= CHAIN_AT_ONCE) {
      const wanted = Array.from({ length: Math.min(CHAIN_AT_ONCE, top - seen.version) }, (_, i) => top - i);
      for (const older of await this.fetchVerified(envelope.noteId, wanted)) {
        linkOrThrow(newer, older);
        newer = older.envelope;
      }
    }
    if (newer.prev !== seen.hash) {
      // Either the server's version `seen.version` is another one (a fork), or this link is broken.
      const [theirs] = await this.fetchVerified(envelope.noteId, [seen.version]);
      if (theirs!.hash !== seen.hash) throw new NoteOpenError('forked', forked);
      linkOrThrow(newer, theirs!);
    }
    if (newer.generation < seen.generation) throw new NoteOpenError('generation-went-back', WENT_BACK);
  }

  private async fetchVerified(noteId: NoteId, versions: number[]): Promise<Array<{ envelope: NoteEnvelope; version: number; hash: string; generation: number }>> {
    return Promise.all(
      versions.map(async (version) => {
        const { envelope, hash } = await verifyNoteHashed(await this.fetchRaw(noteId, version), this.state, { noteId, version });
        return { envelope, version, hash, generation: envelope.generation };
      }),
    );
  }

  /** One version the chain needs: a missing one breaks it. */
  private async fetchRaw(noteId: NoteId, version: number): Promise<unknown> {
    try {
      return await this.fetch(noteId, version);
    } catch (error) {
      if (error instanceof ApiCallError && error.is('NOT_FOUND')) throw new NoteOpenError('broken-chain', `the server does not have version ${version} of this note, which a newer version names: possibly tampered`);
      throw error;
    }
  }

  private fetch(noteId: NoteId, version?: number): Promise<unknown> {
    return fetchNote(this.api, this.groupId, noteId, version);
  }

  /**
   * One version of a note's history: verified and opened in one pass (signature, link
   * rule, hash from the same digests). A version this device cannot decrypt is still
   * verified, and listed with why.
   * @throws {NoteOpenError} for anything but a missing key or a failed decryption.
   */
  private async historyEntry(raw: unknown, noteId: NoteId, version: number): Promise<{ envelope: NoteEnvelope; hash: string; entry: NoteVersion }> {
    try {
      const opened = await openNote(raw, this.state, { noteId, version }, this.keyFor);
      const { warnings: _none, ...note } = openedOf(opened.envelope, opened, []);
      return { envelope: opened.envelope, hash: opened.hash, entry: { ok: true, ...note, hash: opened.hash, prev: opened.envelope.prev } };
    } catch (error) {
      if (!(error instanceof NoteOpenError) || (error.reason !== 'no-key' && error.reason !== 'decrypt')) throw error;
      const { envelope, hash } = await verifyNoteHashed(raw, this.state, { noteId, version });
      const { generation, author, at, deleted, prev } = envelope;
      return { envelope, hash, entry: { ok: false, noteId, version, generation, author, at, deleted, hash, prev, reason: error.reason, message: error.message } };
    }
  }
}

/** One note version as the server stores it (the newest when `version` is omitted), unverified. */
export function fetchNote(api: ApiClient, groupId: GroupId, noteId: NoteId, version?: number): Promise<unknown> {
  return call('reading the note', () => api.notes.get.query({ groupId, noteId, ...(version !== undefined ? { version } : {}) }));
}

const FORKED = 'the server gave a different version of this note than the one this device already saw: possibly tampered';
/** Why a late version from a device that no longer speaks for anyone is flagged, in words. */
function departedMessage(how: 'removed' | 'left' | 'replaced' | 'unlinked'): string {
  if (how === 'unlinked') return 'written by a device its owner has since unlinked; this device did not see it before it was unlinked';
  const [since, before] = how === 'left' ? ['left', 'left'] : ['been removed', 'were removed'];
  return `written by a member who has since ${since}; this device did not see it before they ${before}`;
}

const WENT_BACK = 'this version of the note is sealed with an older group key than the version before it: possibly written with a key its author should no longer use';

/** Checks that `newer` continues `older`: its `prev` names it, and its generation is not older. */
function linkOrThrow(newer: NoteEnvelope, older: { version: number; hash: string; generation: number }): void {
  if (newer.version !== older.version + 1 || newer.prev !== older.hash) {
    throw new NoteOpenError('broken-chain', `version ${newer.version} of this note does not continue version ${older.version}: possibly tampered`);
  }
  if (newer.generation < older.generation) throw new NoteOpenError('generation-went-back', WENT_BACK);
}

function seenOf(envelope: NoteEnvelope, hash: string, seenAtSeq: number): SeenNote {
  return { noteId: envelope.noteId, version: envelope.version, hash, generation: envelope.generation, author: envelope.author, deleted: envelope.deleted, seenAtSeq };
}

