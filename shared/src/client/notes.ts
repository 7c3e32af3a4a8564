/**
 * Notes through the storage API (DESIGN §5): seal and put a version with
 * compare-and-set, list headers incrementally, open envelopes with this device's
 * seeds. A title is shown only after the author's signature holds, and the signature
 * covers the body's digest, so listing fetches each listed version whole.
 */
import { generationKeys } from '../crypto/generations.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { NoteOpenError, openNote, sealNote, type NoteFailure, type NotePlaintext } from '../crypto/note-envelope.ts';
import type { NoteHeader } from '../protocol/api.ts';
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';
import type { NoteEnvelope } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { call } from './errors.ts';

/** Notes opened at once while listing (each is one call; the session batches up to 10 per request). */
const OPEN_AT_ONCE = 40;

/** A note version this device opened: signature checked, title and body decrypted. */
export interface OpenedNote extends NotePlaintext {
  noteId: NoteId;
  version: number;
  generation: number;
  author: Fingerprint;
  /** The author's clock when writing (signed, not verified against anything). */
  at: number;
  deleted: boolean;
}

/** One line of a note list: the note's newest version, opened, or why it could not be. */
export type ListedNote =
  | ({ ok: true } & Omit<OpenedNote, 'body'> & { bodyBytes: number })
  | { ok: false; noteId: NoteId; version: number; author: Fingerprint; reason: NoteFailure; message: string };

export interface NoteList {
  notes: ListedNote[];
  /** Pass back as `since` to get only notes changed afterwards. */
  cursor: number;
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
  options: { deleted?: boolean; at?: number } = {},
): Promise<NoteEnvelope> {
  const envelope = await sealNote(identity, { groupId: state.groupId, noteId: address.noteId, version: address.version, generation }, noteKey, content, options);
  await call('storing the note', () => api.notes.put.mutate({ envelope }));
  return envelope;
}

/** Fetches and opens one note version (the newest when `version` is omitted). @throws {NoteOpenError} */
export async function getNote(
  api: ApiClient,
  state: GroupState,
  keyFor: (generation: number) => Promise<Uint8Array | undefined>,
  noteId: NoteId,
  version?: number,
): Promise<OpenedNote> {
  const envelope = await call('reading the note', () => api.notes.get.query({ groupId: state.groupId, noteId, ...(version !== undefined ? { version } : {}) }));
  const opened = await openNote(envelope, state, { noteId, ...(version !== undefined ? { version } : {}) }, keyFor);
  const e = opened.envelope;
  return { noteId, version: e.version, generation: e.generation, author: e.author, at: e.at, deleted: e.deleted, title: opened.title, body: opened.body };
}

/** Every note header changed after `since`, following the server's cursor page by page. */
export async function listHeaders(api: ApiClient, groupId: GroupId, since: number): Promise<{ items: NoteHeader[]; cursor: number }> {
  const latest = new Map<NoteId, NoteHeader>();
  let cursor = since;
  for (;;) {
    const page = await call('listing notes', () => api.notes.list.query({ groupId, since: cursor }));
    for (const item of page.items) {
      const seen = latest.get(item.noteId);
      if (!seen || seen.version < item.version) latest.set(item.noteId, item);
    }
    // A cursor that does not move would loop forever: stop rather than trust it.
    if (!page.more || page.cursor <= cursor) return { items: [...latest.values()], cursor: Math.max(cursor, page.cursor) };
    cursor = page.cursor;
  }
}

/** Opens the listed versions; one damaged or unreadable note does not hide the others. */
export async function openListed(
  api: ApiClient,
  state: GroupState,
  keyFor: (generation: number) => Promise<Uint8Array | undefined>,
  headers: NoteHeader[],
): Promise<ListedNote[]> {
  const open = async (h: NoteHeader): Promise<ListedNote> => {
    try {
      const note = await getNote(api, state, keyFor, h.noteId, h.version);
      const { body, ...rest } = note;
      return { ok: true, ...rest, bodyBytes: new TextEncoder().encode(body).length };
    } catch (error) {
      if (!(error instanceof NoteOpenError)) throw error;
      return { ok: false, noteId: h.noteId, version: h.version, author: h.author, reason: error.reason, message: error.message };
    }
  };
  // A few HTTP batches in flight at a time, not one request per note all at once.
  const listed: ListedNote[] = [];
  for (let i = 0; i < headers.length; i += OPEN_AT_ONCE) listed.push(...(await Promise.all(headers.slice(i, i + OPEN_AT_ONCE).map(open))));
  return listed;
}

