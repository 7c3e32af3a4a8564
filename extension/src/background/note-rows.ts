/**
 * Rows of the notes cache (the secret `notes` table), written only forward: a version
 * replaces an older one, or a failure of the same one — never a newer row. So a note
 * this device just wrote or opened shows at once, and nothing the server lists later
 * (a rolled-back version) moves it back.
 */
import type { OpenedNote } from '@conclave/shared/client';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { NoteRow } from '../db/schema.ts';
import type { Ctx } from './context.ts';
import { META_TITLE, type MetaSlot } from './meta-notes.ts';

/** The table's primary key ([groupId+noteId]), typed as Dexie takes it. */
export function noteKey(groupId: GroupId, noteId: NoteId): never {
  return [groupId, noteId] as never;
}

export async function cachedNote(ctx: Ctx, groupId: GroupId, noteId: NoteId): Promise<NoteRow | undefined> {
  return ctx.db.notes.get(noteKey(groupId, noteId));
}

/** Whether `next` may replace `current`: a newer version, or the same one opened where it had failed. */
export function replaces(next: NoteRow, current: NoteRow | undefined): boolean {
  if (!current) return true;
  if (next.version !== current.version) return next.version > current.version;
  return current.failure !== undefined || next.failure === undefined;
}

/** Writes rows that replace what is cached (see `replaces`). @returns how many were written. */
export async function keepNewer(ctx: Ctx, rows: NoteRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  return ctx.db.transaction('rw', ctx.db.notes, async () => {
    const current = await ctx.db.notes.bulkGet(rows.map((r) => noteKey(r.groupId, r.noteId)));
    const fresh = rows.filter((row, i) => replaces(row, current[i]));
    if (fresh.length > 0) await ctx.db.notes.bulkPut(fresh);
    return fresh.length;
  });
}

/** The cache row of an opened note version (a meta note under its reserved title). */
export function openedRow(groupId: GroupId, note: Pick<OpenedNote, 'noteId' | 'version' | 'title' | 'author' | 'at' | 'deleted'>, slot?: MetaSlot): NoteRow {
  return { groupId, noteId: note.noteId, version: note.version, title: slot ? META_TITLE : note.title, author: note.author, at: note.at, deleted: note.deleted };
}
