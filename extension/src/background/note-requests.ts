/**
 * Note requests: list (from the cache, brought up to date incrementally; meta and
 * deleted notes left out, every failure in words; for a group that removed this device,
 * the cache as it was, read-only, texts opened from their sealed copies), read,
 * save (new, or an edit on a base version: a concurrent edit comes back as a conflict
 * with both versions, never silently overwritten), delete (a deleted version).
 */
import { isEmptyNote, NoteConflictError, titleToSave } from '@conclave/shared/client';
import type { OpenedNote } from '@conclave/shared/client';
import { META_TITLE, RESERVED_TITLE_PREFIX, type GroupState, type MetaSlot, type NoteFailure } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import { openNoteBody, sealNoteBody } from '../db/at-rest.ts';
import type { GroupRow, NoteRow } from '../db/schema.ts';
import type { Request } from '../messages/protocol.ts';
import type { ListedNoteView, NoteFlagView, NoteHeaderView, NoteView, SaveNoteResult } from '../messages/views.ts';
import type { Answers } from '../messages/answers.ts';
import { requireIdentity } from './connection.ts';
import type { Ctx } from './context.ts';
import { fail, noteFailureWords, noteWarningWords } from './errors.ts';
import { assertUsable, groupRow, quoted, REMOVED_ACTION, viaClient } from './group-state.ts';
import { refuseMetaNote } from './note-access.ts';
import { authorsOf } from './note-authors.ts';
import { refreshNotes } from './note-cache.ts';
import { cachedNote, groupNoteRows, keepNewer, openedRowWithBody } from './note-rows.ts';
import { updateGroupRow } from '../db/key-store.ts';
import { updateBadge } from './summaries.ts';
import { personFor } from './people.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/**
 * What a device removed from a group still shows of it (DESIGN §5: a removed member keeps
 * what it already read): the notes cache as it was, read-only, without the network — the
 * server no longer answers it, and nothing new can be opened anyway.
 */
async function keptList(ctx: Ctx, row: GroupRow): Promise<ListedNoteView[]> {
  const rows = await groupNoteRows(ctx, row.groupId);
  // Meta notes (names) are cached under their reserved title, which no note may take.
  const meta = new Set(rows.filter((r) => !r.failure && r.title === META_TITLE).map((r) => r.noteId));
  return listFromCache(ctx, row.groupId, row.state, meta);
}

/** One kept note of a removed group: its text as this device opened it, or why there is none. */
async function keptNote(ctx: Ctx, row: GroupRow, noteId: NoteId): Promise<NoteView> {
  const cached = await cachedNote(ctx, row.groupId, noteId);
  if (!cached || cached.failure || cached.deleted || cached.title === META_TITLE) {
    fail('removed', `This device was removed from ${quoted(row.name)} and did not keep this note.`, REMOVED_ACTION);
  }
  if (!cached.sealedBody) {
    fail('removed', 'This device kept only the title of this note: its text was not opened here before you were removed.', 'Ask a member of the group for it, or ask an admin to invite you again.');
  }
  const me = await requireIdentity(ctx.db);
  const who = authorsOf(ctx, row.state, me)(cached.author);
  const body = await openNoteBody(ctx.db, row.groupId, noteId, cached.version, cached.sealedBody);
  return { noteId, version: cached.version, title: cached.title, body, author: cached.author, ...who, at: cached.at, flags: rowFlags(cached, row.state, who.authorName) };
}

/** How the device that wrote a late note stopped speaking for the group: its own fate, else its person's. */
function departedHow(state: GroupState, author: Fingerprint): 'removed' | 'left' | 'replaced' | 'unlinked' {
  return state.departedDevices.get(author)?.how ?? state.departed.get(personFor(state, author))?.how ?? 'removed';
}

/** The words of a note's flags (client/notes.ts `NoteWarning`). */
function flagsOf(note: Pick<OpenedNote, 'version' | 'warnings'>, authorName: string): NoteFlagView[] {
  return note.warnings.map((w) =>
    w.code === 'rolled-back'
      ? noteWarningWords({ code: 'rolled-back', seenVersion: w.seenVersion, shownVersion: note.version })
      : noteWarningWords({ code: 'late-from-departed', authorName, how: w.how }),
  );
}

/** The flags a cached row carries: a rollback the cache kept out, a late note by a departed member. */
function rowFlags(row: NoteRow, state: GroupState, authorName: string): NoteFlagView[] {
  const flags: NoteFlagView[] = [];
  if (row.rolledBackTo !== undefined) flags.push(noteWarningWords({ code: 'rolled-back', seenVersion: row.version, shownVersion: row.rolledBackTo }));
  if (row.lateFromDeparted) flags.push(noteWarningWords({ code: 'late-from-departed', authorName, how: departedHow(state, row.author) }));
  return flags;
}

async function noteView(ctx: Ctx, state: GroupState, note: OpenedNote): Promise<NoteView> {
  const who = authorsOf(ctx, state, await requireIdentity(ctx.db))(note.author);
  return {
    noteId: note.noteId,
    version: note.version,
    title: note.title,
    body: note.body,
    author: note.author,
    ...who,
    at: note.at,
    flags: flagsOf(note, who.authorName),
  };
}

/** The list as the cache holds it: readable notes newest first, then those that could not be opened, saying why. */
async function listFromCache(ctx: Ctx, groupId: GroupId, state: GroupState, meta: { has(noteId: NoteId): boolean }): Promise<ListedNoteView[]> {
  const [rows, me] = await Promise.all([groupNoteRows(ctx, groupId), requireIdentity(ctx.db)]);
  const author = authorsOf(ctx, state, me);
  const opened: Array<Extract<ListedNoteView, { ok: true }>> = [];
  const failed: Array<Extract<ListedNoteView, { ok: false }>> = [];
  for (const row of rows) {
    if (meta.has(row.noteId)) continue;
    if (row.failure) {
      const { authorName } = author(row.author);
      // A vanished note keeps the title this device had decrypted, so the person knows which one.
      const title = row.failure === 'vanished' && row.title ? { title: row.title } : {};
      failed.push({ ok: false, noteId: row.noteId, version: row.version, author: row.author, authorName, reason: row.failure, ...noteFailureWords(row.failure, true), ...title });
    } else if (!row.deleted) {
      const who = author(row.author);
      const flags = rowFlags(row, state, who.authorName);
      opened.push({ ok: true, noteId: row.noteId, version: row.version, title: row.title, author: row.author, ...who, at: row.at, deleted: false, ...(flags.length > 0 ? { flags } : {}) });
    }
  }
  opened.sort((a, b) => b.at - a.at);
  return [...opened, ...failed];
}

/**
 * The notes list, from this device's cache after bringing it up to date: one SDK call
 * syncs the log (a forked one raises the alarm and nothing is listed) and lists and
 * opens only notes changed since the last listing (note-cache.ts). Without the key
 * every note would fail alike (meta notes too): the SDK says it once instead.
 */
export async function listNotes(ctx: Ctx, request: Req<'notes.list'>): Promise<ListedNoteView[]> {
  const { groupId } = request;
  const row = await groupRow(ctx, groupId);
  if (row.removed) return keptList(ctx, row);
  const connection = await ctx.connections.get();
  const refresh = await refreshNotes(ctx, connection, groupId);
  const list = await listFromCache(ctx, groupId, refresh.state, refresh.meta);
  await updateGroupRow(ctx.db, groupId, { seenCursor: refresh.cursor });
  ctx.counts.set(groupId, { pending: ctx.counts.get(groupId)?.pending ?? [], unread: 0 });
  await updateBadge(ctx);
  if (refresh.namesChanged) ctx.changed(groupId);
  return list;
}

/** One note, opened by the SDK on a freshly synced log (the sync and the fetch go in one HTTP request). */
export async function readNote(ctx: Ctx, request: Req<'notes.read'>): Promise<NoteView> {
  const { groupId, noteId } = request;
  const row = await groupRow(ctx, groupId);
  if (row.removed) return keptNote(ctx, row, noteId);
  const connection = await ctx.connections.get();
  await refuseMetaNote(connection, groupId, noteId);
  const note = await viaClient(ctx, connection, groupId, () => connection.client.readNote(groupId, noteId));
  if (note.deleted) fail('invalid-request', 'This note was deleted.', 'Go back to the list of notes.');
  const late = note.warnings.some((w) => w.code === 'late-from-departed');
  await keepNewer(ctx, [{ ...(await openedRowWithBody(ctx, groupId, note)), ...(late ? { lateFromDeparted: true } : {}) }]);
  return noteView(ctx, await connection.client.state(groupId), note);
}

/** Failures after which the author a listing gives is not proven by a signature. */
const UNPROVEN_AUTHOR: ReadonlySet<NoteFailure> = new Set(['malformed', 'unknown-author', 'bad-signature']);

/**
 * The newest version of a note this device knows, from the notes cache (no network):
 * the sync that brought it there (a tick, a live event) already told the pages, so an
 * open editor reads this to say at once that someone saved a newer version.
 */
export async function noteHeader(ctx: Ctx, request: Req<'notes.header'>): Promise<NoteHeaderView | null> {
  const { groupId, noteId } = request;
  await groupRow(ctx, groupId);
  const row = await cachedNote(ctx, groupId, noteId);
  if (!row || (!row.failure && row.title === META_TITLE)) return null;
  const me = await requireIdentity(ctx.db);
  // A version this device could not open (its key not here yet, say) is still newer than
  // the one being edited. Its author is named only when its signature did not fail.
  const unopened = row.failure !== undefined;
  const named = !unopened || !UNPROVEN_AUTHOR.has(row.failure!);
  return {
    noteId,
    version: row.version,
    author: row.author,
    authorName: named ? authorsOf(ctx, (await groupRow(ctx, groupId)).state, me)(row.author).authorName : 'Someone',
    isMe: named && row.author === me.identity.fingerprint,
    at: row.at,
    deleted: row.deleted,
    unopened,
  };
}

export async function saveNote(ctx: Ctx, request: Req<'notes.save'>): Promise<SaveNoteResult> {
  const { groupId } = request;
  if (isEmptyNote(request.title, request.body)) {
    fail(
      'invalid-request',
      'This note is empty: it has no title and no text.',
      request.noteId ? 'Write a title or some text. To get rid of the note, use Delete instead.' : 'Write a title or some text, or cancel the note.',
    );
  }
  const title = titleToSave(request.title, request.body);
  if (title.trim().startsWith(RESERVED_TITLE_PREFIX)) {
    fail('invalid-request', `Titles starting with "${RESERVED_TITLE_PREFIX}" are reserved for Conclave itself.`, 'Choose another title.');
  }
  assertUsable(await groupRow(ctx, groupId));
  const connection = await ctx.connections.get();
  if (request.noteId) await refuseMetaNote(connection, groupId, request.noteId);
  const content = { title, body: request.body };
  const address = request.noteId ? { noteId: request.noteId, version: (request.baseVersion ?? 0) + 1 } : {};
  try {
    // One sync and the put, inside the SDK's lock.
    const written = await viaClient(ctx, connection, groupId, () => connection.client.writeNote(groupId, content, address));
    // Cached at once: the next listing finds this version and does not fetch it.
    await keepNewer(ctx, [{ groupId, noteId: written.noteId, version: written.version, title, author: connection.identity.fingerprint, at: ctx.now(), deleted: false, sealedBody: await sealNoteBody(ctx.db, groupId, written.noteId, written.version, request.body) }]);
    ctx.changed(groupId);
    return { saved: true, noteId: written.noteId, version: written.version };
  } catch (error) {
    if (!(error instanceof NoteConflictError) || !request.noteId) throw error;
    // Their version comes with the conflict, opened on the log `writeNote` synced; read
    // (a second sync) only when it could not be opened there.
    const theirs = error.theirs ?? (await viaClient(ctx, connection, groupId, () => connection.client.readNote(groupId, request.noteId!)));
    return { saved: false, conflict: { mine: content, theirs: await noteView(ctx, await connection.client.state(groupId), theirs) } };
  }
}

export async function deleteNote(ctx: Ctx, request: Req<'notes.delete'>): Promise<Answers['notes.delete']> {
  const { groupId, noteId, baseVersion } = request;
  assertUsable(await groupRow(ctx, groupId));
  const connection = await ctx.connections.get();
  await refuseMetaNote(connection, groupId, noteId);
  try {
    const written = await viaClient(ctx, connection, groupId, () => connection.client.writeNote(groupId, { title: '', body: '' }, { noteId, version: baseVersion + 1, deleted: true }));
    await keepNewer(ctx, [{ groupId, noteId, version: written.version, title: '', author: connection.identity.fingerprint, at: ctx.now(), deleted: true }]);
    ctx.changed(groupId);
    return { noteId, version: written.version };
  } catch (error) {
    if (error instanceof NoteConflictError) fail('conflict', 'Someone changed this note after you opened it.', 'Open it again to see their version, then decide whether to delete it.');
    throw error;
  }
}
