/**
 * What changed in a group's notes since a cursor (DESIGN §5), for a client that keeps
 * its own list of opened notes (the extension's notes cache, a CLI's listing):
 *
 * 1. the headers changed after `since`, in pages as large as the API allows;
 * 2. of those, only versions newer than what the caller already holds (`known`) are
 *    fetched and opened through `NoteGuard` — signature, chain rules and this device's
 *    memory of notes; a version that breaks them is a failure by name, not an error;
 * 3. versions the caller could not open before (`reopen`) are opened again at their
 *    version (a key or a member may have arrived since); one the server no longer
 *    serves is left as it was; one the server lists at that same version is opened as
 *    listed (as the newest, so a rollback to it is still flagged);
 * 4. a listed version older than the one the caller holds is reported (`older`: a
 *    rollback by the server, never opened);
 * 5. on a full listing (`since` 0, or `fullCheck`), notes this device saw that the
 *    server no longer lists, without a signed deletion, are reported as `vanished`.
 *
 * Unread counting needs no decryption: headers by others, not deleted, not meta notes.
 */
import { NoteOpenError, type NoteFailure } from '../crypto/note-envelope.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { MetaSlot } from '../crypto/meta-notes.ts';
import type { NoteHeader } from '../protocol/api.ts';
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';
import type { ApiClient } from './api-session.ts';
import { ApiCallError } from './errors.ts';
import { listHeaders, type NoteGuard, type OpenedNote } from './notes.ts';
import type { SeenNote } from './note-store.ts';
import { namesFromMeta, type MetaNames } from './meta-names.ts';

/** Notes opened at once (each one call; the session batches up to 10 per request): the SDK's one batch-opening loop, for `changedNotes` and `listNotes`. */
const OPEN_AT_ONCE = 40;

/** A note version to open again at that version. */
export interface NoteTarget {
  noteId: NoteId;
  version: number;
  author: Fingerprint;
  at: number;
}

export interface ChangedNotesOptions {
  /**
   * The versions the caller already holds opened, in the order asked (undefined: none):
   * a listed version not newer than that is not fetched.
   */
  known?: (noteIds: readonly NoteId[]) => Promise<ReadonlyArray<number | undefined>>;
  /**
   * Versions the caller could not open before, opened again at their version. As a
   * function it is asked after this call's sync and key fetch, so the caller can decide
   * from the keys and log the device holds now (e.g. only when they changed).
   */
  reopen?: readonly NoteTarget[] | (() => Promise<readonly NoteTarget[]>);
  /** Compare the whole list with what this device saw (implied when `since` is 0). */
  fullCheck?: boolean;
}

/** A note version that could not be opened, and why (no secret detail). */
export interface FailedNote extends NoteTarget {
  reason: NoteFailure;
  message: string;
}

export interface ChangedNotes {
  /** The cursor listed from, and the one to pass next time. */
  since: number;
  cursor: number;
  /** Every header the server listed after `since`, newest version of each (unverified: count, never show). */
  headers: NoteHeader[];
  /** Versions opened: signature, chain and this device's memory checked, title and body decrypted. */
  opened: OpenedNote[];
  /** Versions that could not be opened, with why. */
  failed: FailedNote[];
  /** Listed at an older version than the caller holds: a rollback, kept out. */
  older: NoteHeader[];
  /** Notes this device saw that a full listing no longer has, without a signed deletion. */
  vanished: SeenNote[];
  /** Whether the whole list was compared (`vanished` is meaningful). */
  fullChecked: boolean;
  /** Of `headers`, the notes others changed (not deleted, not meta notes): what counts as unread. */
  unread: number;
  /** The group as validated by this call's sync. */
  state: GroupState;
  /** The group's meta note ids (names: hidden from lists and counts). */
  meta: Map<NoteId, MetaSlot>;
  /** The names the meta notes opened here carry (meta-names.ts: who may write each applied). */
  names: MetaNames;
}

/**
 * Of some headers, those that count as unread: by others, not deleted, not meta notes.
 * @param me this device, or every device of this device's person (their notes are not news to them).
 */
export function unreadAmong(headers: readonly NoteHeader[], meta: ReadonlyMap<NoteId, MetaSlot>, me: Fingerprint | ReadonlySet<Fingerprint>): number {
  const mine = typeof me === 'string' ? (author: Fingerprint) => author === me : (author: Fingerprint) => me.has(author);
  return headers.filter((h) => !mine(h.author) && !h.deleted && !meta.has(h.noteId)).length;
}

type Outcome = { ok: true; note: OpenedNote } | { ok: false; failed: FailedNote } | null;

/** Lists and opens what changed (see the module note). The caller has synced and holds the key. */
export async function openChanges(
  api: ApiClient,
  guard: NoteGuard,
  context: { state: GroupState; meta: Map<NoteId, MetaSlot>; me: Fingerprint | ReadonlySet<Fingerprint> },
  since: number,
  options: ChangedNotesOptions,
): Promise<ChangedNotes> {
  const groupId: GroupId = context.state.groupId;
  const { items: headers, cursor } = await listHeaders(api, groupId, since);
  const known = headers.length > 0 && options.known ? await options.known(headers.map((h) => h.noteId)) : [];
  const listed: NoteTarget[] = [];
  const older: NoteHeader[] = [];
  headers.forEach((h, i) => {
    const have = known[i];
    if (have === undefined || have < h.version) listed.push(h);
    else if (h.version < have) older.push(h);
  });
  const opening = new Set(listed.map((t) => t.noteId));
  const asked = typeof options.reopen === 'function' ? await options.reopen() : (options.reopen ?? []);
  // A failure at the very version the server lists now is opened as listed (the newest:
  // a rollback to it is flagged), not as a version opened again at itself.
  const listedAt = new Map(headers.map((h) => [h.noteId, h.version]));
  const reopen: NoteTarget[] = [];
  for (const t of asked) {
    if (opening.has(t.noteId)) continue;
    if (listedAt.get(t.noteId) === t.version) {
      listed.push(t);
      opening.add(t.noteId);
    } else {
      reopen.push(t);
    }
  }

  const open = async (target: NoteTarget, again: boolean): Promise<Outcome> => {
    try {
      // A listed version is given as the newest; a version opened again is opened at itself.
      return { ok: true, note: await guard.read(target.noteId, target.version, { asNewest: !again }) };
    } catch (error) {
      if (error instanceof NoteOpenError) {
        const { noteId, version, author, at } = target;
        return { ok: false, failed: { noteId, version, author, at, reason: error.reason, message: error.message } };
      }
      // A version opened again that the server no longer serves stays as it was; any
      // other error (and any on a listed note) stops the listing, to be run again.
      if (again && error instanceof ApiCallError && error.is('NOT_FOUND')) return null;
      throw error;
    }
  };
  const work = [...listed.map((t) => ({ t, again: false })), ...reopen.map((t) => ({ t, again: true }))];
  const opened: OpenedNote[] = [];
  const failed: FailedNote[] = [];
  // A few HTTP batches in flight at a time, not one request per note all at once.
  for (let i = 0; i < work.length; i += OPEN_AT_ONCE) {
    for (const outcome of await Promise.all(work.slice(i, i + OPEN_AT_ONCE).map(({ t, again }) => open(t, again)))) {
      if (outcome?.ok) opened.push(outcome.note);
      else if (outcome) failed.push(outcome.failed);
    }
  }

  let fullIds: NoteId[] | null = since === 0 ? headers.map((h) => h.noteId) : null;
  if (!fullIds && options.fullCheck) fullIds = (await listHeaders(api, groupId, 0)).items.map((h) => h.noteId);
  const vanished = fullIds ? await guard.vanished(fullIds) : [];
  return {
    since,
    cursor,
    headers,
    opened,
    failed,
    older,
    vanished,
    fullChecked: fullIds !== null,
    unread: unreadAmong(headers, context.meta, context.me),
    state: context.state,
    meta: context.meta,
    names: namesFromMeta(context.state, context.meta, opened),
  };
}
