/**
 * Rows of the notes cache (the secret `notes` table), written only forward: a version
 * replaces an older one, or a failure of the same one — never a newer row. So a note
 * this device just wrote or opened shows at once, and nothing the server lists later
 * (a rolled-back version) moves it back. The one owner of the table.
 */
import type { OpenedNote, SeenNote } from '@conclave/shared/client';
import { META_TITLE, type MetaSlot } from '@conclave/shared/crypto';
import type { GroupId, NoteHeader, NoteId } from '@conclave/shared/protocol';
import { sealNoteBody } from '../db/at-rest.ts';
import type { NoteRow } from '../db/schema.ts';
import type { Ctx } from './context.ts';

/** The table's primary key ([groupId+noteId]), typed as Dexie takes it. */
export function noteKey(groupId: GroupId, noteId: NoteId): never {
  return [groupId, noteId] as never;
}

export async function cachedNote(ctx: Pick<Ctx, 'db'>, groupId: GroupId, noteId: NoteId): Promise<NoteRow | undefined> {
  return ctx.db.notes.get(noteKey(groupId, noteId));
}

/** Whether `next` may replace `current`: a newer version, or the same one opened where it had failed. */
export function replaces(next: NoteRow, current: NoteRow | undefined): boolean {
  if (!current) return true;
  if (next.version !== current.version) return next.version > current.version;
  return current.failure !== undefined || next.failure === undefined;
}

/** Writes rows that replace what is cached (see `replaces`). @returns how many were written. */
export async function keepNewer(ctx: Pick<Ctx, 'db'>, rows: NoteRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  return ctx.db.transaction('rw', ctx.db.notes, async () => {
    const current = await ctx.db.notes.bulkGet(rows.map((r) => noteKey(r.groupId, r.noteId)));
    const fresh = rows.flatMap((row, i) => {
      const have = current[i];
      if (!replaces(row, have)) return [];
      // The same version without its text (a listing that did not fetch it) keeps the text kept.
      return have?.sealedBody && !row.sealedBody && have.version === row.version && !row.failure ? [{ ...row, sealedBody: have.sealedBody }] : [row];
    });
    if (fresh.length > 0) await ctx.db.notes.bulkPut(fresh);
    return fresh.length;
  });
}

/** The cache row of an opened note version (a meta note under its reserved title). */
export function openedRow(groupId: GroupId, note: Pick<OpenedNote, 'noteId' | 'version' | 'title' | 'author' | 'at' | 'deleted'>, slot?: MetaSlot): NoteRow {
  return { groupId, noteId: note.noteId, version: note.version, title: slot ? META_TITLE : note.title, author: note.author, at: note.at, deleted: note.deleted };
}

/** `openedRow` with the note's text sealed at rest, so a removed member keeps what it read (meta notes keep none). */
export async function openedRowWithBody(ctx: Pick<Ctx, 'db'>, groupId: GroupId, note: Pick<OpenedNote, 'noteId' | 'version' | 'title' | 'body' | 'author' | 'at' | 'deleted'>, slot?: MetaSlot): Promise<NoteRow> {
  const row = openedRow(groupId, note, slot);
  if (slot || note.deleted) return row;
  return { ...row, sealedBody: await sealNoteBody(ctx.db, groupId, note.noteId, note.version, note.body) };
}

/** The cached version of some notes, in the order asked (undefined where none). */
export async function cachedVersions(ctx: Pick<Ctx, 'db'>, groupId: GroupId, noteIds: readonly NoteId[]): Promise<Array<number | undefined>> {
  if (noteIds.length === 0) return [];
  return (await ctx.db.notes.bulkGet(noteIds.map((id) => noteKey(groupId, id)))).map((row) => row?.version);
}

/** Every cached row of a group. */
export function groupNoteRows(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<NoteRow[]> {
  return ctx.db.notes.where('groupId').equals(groupId).toArray();
}

/** The rows of notes this device could not open. */
export function failedRows(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<NoteRow[]> {
  return ctx.db.notes.where('[groupId+failure]').between([groupId, ''], [groupId, '\uffff']).toArray();
}

/**
 * Marks notes this device saw that the server no longer lists, without a signed
 * deletion, as `vanished` (the title it had decrypted is kept).
 * @returns how many were newly marked.
 */
export async function markVanished(ctx: Pick<Ctx, 'db'>, groupId: GroupId, gone: readonly SeenNote[]): Promise<number> {
  let marked = 0;
  for (const seen of gone) {
    const have = await ctx.db.notes.get(noteKey(groupId, seen.noteId));
    if (have?.failure === 'vanished') continue;
    marked++;
    await ctx.db.notes.put({
      ...(have ?? { groupId, noteId: seen.noteId, title: '', at: 0, deleted: false }),
      version: seen.version,
      author: seen.author,
      failure: 'vanished',
      failureMessage: 'the server no longer has this note and holds no signed deletion of it',
    });
  }
  return marked;
}

/**
 * Marks notes the server listed at an older version than the cached one (a rollback):
 * the row keeps its newer version. @returns how many.
 */
export async function markRolledBack(ctx: Pick<Ctx, 'db'>, groupId: GroupId, older: readonly NoteHeader[]): Promise<number> {
  let marked = 0;
  for (const h of older) {
    const have = await ctx.db.notes.get(noteKey(groupId, h.noteId));
    if (!have || have.version <= h.version) continue;
    marked++;
    await ctx.db.notes.put({ ...have, rolledBackTo: h.version });
  }
  return marked;
}

/** Forgets a group's cached notes (inside the caller's transaction when there is one). */
export async function forgetNotesOf(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<void> {
  await ctx.db.notes.where('groupId').equals(groupId).delete();
}
