/**
 * The notes cache (the secret `notes` table): each note's newest version this device
 * opened — decrypted title, author, time, deleted — or why it could not be opened.
 * Lists, search and unread counts answer from it; the server is asked only for what
 * changed since the group's `notesCursor`:
 *
 * 1. headers changed after the cursor (no bodies, a few large pages);
 * 2. of those, only versions this device has not opened yet are fetched and opened
 *    (a note this device just wrote is already cached at its version: not fetched);
 * 3. when the keys held or the log changed since the cache was built (its stamp), the
 *    cached failures are opened again — a note written with a key that has just
 *    arrived becomes readable, and one from a member this device had not yet seen;
 * 4. rows are written only forward: a listed version older than the cached one is a
 *    rollback by the server, kept out (the row is marked `rolledBackTo`);
 * 5. every version is opened through the SDK's `NoteGuard` with this device's memory of
 *    notes (db/note-store.ts): a version that breaks the chain, forks from what this
 *    device saw, or goes back a generation is a failure row by name; a late version by a
 *    departed member is marked `lateFromDeparted`; and at most every FULL_CHECK_MS the
 *    whole list is compared with what this device saw, so a note the server dropped
 *    without a signed deletion becomes a `vanished` row (its title kept).
 *
 * The log is synced by the callers before this runs (a forked or rolled-back log
 * raises the alarm before anything is listed). Meta notes are cached under their
 * reserved title; a newly opened one teaches its name (names.ts).
 */
import { ApiCallError, call } from '@conclave/shared/client';
import { NoteGuard, NoteKeys, type OpenedNote } from '@conclave/shared/client';
import type { GroupState } from '@conclave/shared/crypto';
import { NoteOpenError } from '@conclave/shared/crypto';
import { NOTE_LIST_MAX, type NoteHeader } from '@conclave/shared/protocol';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { ApiClient } from '@conclave/shared/client';
import { openSeeds } from '../db/at-rest.ts';
import { DexieNoteStore } from '../db/note-store.ts';
import type { GroupRow, NoteRow } from '../db/schema.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { groupRow } from './group-state.ts';
import type { MetaSlot } from './meta-notes.ts';
import { learnFromMeta, metaIdsOf } from './names.ts';
import { keepNewer, noteKey, openedRow } from './note-rows.ts';

/** Notes opened at once (each one call; the session batches up to 10 per request). */
const OPEN_AT_ONCE = 40;

/** How often the whole note list (headers only) is compared with what this device saw. */
export const FULL_CHECK_MS = 10 * 60_000;

/** What the cache was built with: the generations held and the log's length. */
export function cacheStamp(row: Pick<GroupRow, 'seeds' | 'state'>): string {
  const generations = [...row.seeds.keys()].sort((a, b) => a - b).join(',');
  return `${generations}|${row.state.hashes.length}`;
}

/** Every note header changed after `since`, the newest listed version of each, in pages as large as the API allows. */
export async function headersSince(api: ApiClient, groupId: GroupId, since: number): Promise<{ items: NoteHeader[]; cursor: number }> {
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

/** Cached rows of some notes of a group (undefined where none). */
async function cachedRows(ctx: Ctx, groupId: GroupId, noteIds: NoteId[]): Promise<Array<NoteRow | undefined>> {
  if (noteIds.length === 0) return [];
  return ctx.db.notes.bulkGet(noteIds.map((id) => noteKey(groupId, id)));
}

interface Target {
  noteId: NoteId;
  version: number;
  author: Fingerprint;
  at: number;
}

type Outcome = { ok: true; note: OpenedNote } | { ok: false; row: NoteRow } | null;

export interface Refresh {
  /** The cursor listed from (0 when the cache was rebuilt) and the one it moved to. */
  since: number;
  cursor: number;
  /** The headers the server listed after `since` (unverified: used to count, never shown). */
  headers: NoteHeader[];
  state: GroupState;
  meta: Map<NoteId, MetaSlot>;
  /** Cache rows written (new, changed or newly readable notes). */
  written: number;
  /** Notes the server listed at a version older than the cached one. */
  rollbacks: number;
  /** Notes this device saw that a full listing no longer has, without a signed deletion. */
  vanished: number;
  /** True when a name (of the group or a member) changed. */
  namesChanged: boolean;
}

/**
 * Brings a group's notes cache up to date with the server (see the module note).
 * Call after syncing the log, while this device holds the current key.
 * @throws the storage API's errors (nothing is written then, and the cursor stays).
 */
export async function refreshNotes(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<Refresh> {
  const row = await groupRow(ctx, groupId);
  const { state } = row;
  const stamp = cacheStamp(row);
  const retry = row.notesStamp !== stamp;
  const since = row.notesStamp === undefined ? 0 : row.notesCursor;
  const keeper = await connection.api();
  const { items: headers, cursor } = await keeper.run(() => headersSince(keeper.api, groupId, since));
  const meta = await metaIdsOf(ctx, groupId, state);

  const cached = await cachedRows(ctx, groupId, headers.map((h) => h.noteId));
  const listed: Target[] = [];
  const older: NoteHeader[] = [];
  headers.forEach((h, i) => {
    const have = cached[i];
    if (!have || have.version < h.version || (retry && have.failure !== undefined && have.version === h.version)) listed.push(h);
    else if (h.version < have.version) older.push(h);
  });
  // Failures not listed again: opened again at their version once keys or the log changed.
  let retried: Target[] = [];
  if (retry) {
    const listedIds = new Set(headers.map((h) => h.noteId));
    const failed = await ctx.db.notes.where('[groupId+failure]').between([groupId, ''], [groupId, '\uffff']).toArray();
    retried = failed.filter((r) => !listedIds.has(r.noteId));
  }

  const keyFor = new NoteKeys().keyFor(groupId, await openSeeds(ctx.db, row));
  const seenNotes = new DexieNoteStore(ctx.db);
  const guard = await NoteGuard.start(keeper.api, state, keyFor, seenNotes);
  const open = async (target: Target, tolerant: boolean): Promise<Outcome> => {
    try {
      // A listed version is given as the newest; a failure retried is opened at its version.
      return { ok: true, note: await guard.read(target.noteId, target.version, { asNewest: !tolerant }) };
    } catch (error) {
      if (error instanceof NoteOpenError) {
        const failed: NoteRow = { groupId, noteId: target.noteId, version: target.version, title: '', author: target.author, at: target.at, deleted: false, failure: error.reason, failureMessage: error.message };
        return { ok: false, row: failed };
      }
      // A failure retried at a version the server no longer serves stays as it was;
      // anything else (and any error on a listed note) stops the listing, to run again.
      if (tolerant && error instanceof ApiCallError && error.is('NOT_FOUND')) return null;
      throw error;
    }
  };
  const work = [...listed.map((t) => ({ t, tolerant: false })), ...retried.map((t) => ({ t, tolerant: true }))];
  const outcomes: Outcome[] = [];
  for (let i = 0; i < work.length; i += OPEN_AT_ONCE) {
    const slice = work.slice(i, i + OPEN_AT_ONCE);
    outcomes.push(...(await keeper.run(() => Promise.all(slice.map(({ t, tolerant }) => open(t, tolerant))))));
  }

  const rows: NoteRow[] = [];
  const opened: OpenedNote[] = [];
  for (const outcome of outcomes) {
    if (!outcome) continue;
    if (outcome.ok) {
      opened.push(outcome.note);
      const late = outcome.note.warnings.some((w) => w.code === 'late-from-departed');
      rows.push({ ...openedRow(groupId, outcome.note, meta.get(outcome.note.noteId)), ...(late ? { lateFromDeparted: true } : {}) });
    } else rows.push(outcome.row);
  }

  // Notes this device saw that the server no longer lists at all (a full listing only).
  let fullIds: NoteId[] | null = since === 0 ? headers.map((h) => h.noteId) : null;
  if (!fullIds && ctx.now() - (await seenNotes.fullCheckAt(groupId)) >= FULL_CHECK_MS) {
    fullIds = (await keeper.run(() => headersSince(keeper.api, groupId, 0))).items.map((h) => h.noteId);
  }
  const gone = fullIds ? await guard.vanished(fullIds) : [];

  let written = 0;
  let rollbacks = 0;
  let vanished = 0;
  await ctx.db.transaction('rw', ctx.db.notes, ctx.db.groups, async () => {
    written = await keepNewer(ctx, rows);
    for (const seen of gone) {
      const have = await ctx.db.notes.get(noteKey(groupId, seen.noteId));
      if (have?.failure === 'vanished') continue;
      vanished++;
      await ctx.db.notes.put({
        ...(have ?? { groupId, noteId: seen.noteId, title: '', at: 0, deleted: false }),
        version: seen.version,
        author: seen.author,
        failure: 'vanished',
        failureMessage: 'the server no longer has this note and holds no signed deletion of it',
      });
    }
    for (const h of older) {
      const have = await ctx.db.notes.get(noteKey(groupId, h.noteId));
      if (!have || have.version <= h.version) continue;
      rollbacks++;
      await ctx.db.notes.put({ ...have, rolledBackTo: h.version });
    }
    const now = await ctx.db.groups.get(groupId);
    if (now) await ctx.db.groups.update(groupId, { notesCursor: Math.max(now.notesCursor, cursor), notesStamp: stamp });
  });
  if (fullIds) await seenNotes.markFullCheck(groupId, ctx.now(), state.seq);
  if (rollbacks > 0) console.warn(`conclave: the storage API listed ${rollbacks} note(s) at an older version than this device already read; the newer ones are kept`);
  if (vanished > 0) console.warn(`conclave: the storage API no longer lists ${vanished} note(s) this device saw, without a signed deletion`);

  const namesChanged = await learnFromMeta(ctx, groupId, state, meta, opened);
  return { since, cursor, headers, state, meta, written, rollbacks, vanished, namesChanged };
}
