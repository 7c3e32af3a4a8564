/**
 * A group's export, for the side panel: every readable note of the group as a Markdown
 * file (the SDK's `noteMarkdown`, the one `conclave export` writes), handed to the page,
 * which zips it and saves it on this computer (ui/panel/export-zip.ts). Nothing is sent
 * anywhere: the server is only read, as for any listing.
 */
import { noteFileName, noteMarkdown } from '@conclave/shared/client';
import type { Request } from '../messages/protocol.ts';
import type { ExportView } from '../messages/views.ts';
import { requireIdentity } from './connection.ts';
import type { Ctx } from './context.ts';
import { noteFailureWords } from './errors.ts';
import { groupRow, viaClient } from './group-state.ts';
import { fetchable } from './note-access.ts';
import { knownAuthorName } from './note-authors.ts';
import { cachedNote } from './note-rows.ts';
import { personFor } from './people.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/**
 * Every readable note of a group as a Markdown file, opened from the server in one SDK
 * listing (`changedNotes` from 0: one log sync, each note fetched once, bodies
 * included); notes that could not be opened are listed with why, their title when this
 * device had one.
 */
export async function exportNotes(ctx: Ctx, request: Req<'notes.export'>): Promise<ExportView> {
  const { groupId } = request;
  const connection = await fetchable(ctx, groupId);
  const changes = await viaClient(ctx, connection, groupId, () => connection.client.changedNotes(groupId, 0));
  const [row, me] = await Promise.all([groupRow(ctx, groupId), requireIdentity(ctx.db)]);
  const { state, meta } = changes;
  const files = changes.opened
    .filter((note) => !note.deleted && !meta.has(note.noteId))
    .sort((a, b) => b.at - a.at)
    .map((note) => ({
      name: noteFileName(note.title, note.noteId),
      title: note.title,
      text: noteMarkdown({
        ...note,
        groupId,
        groupName: row.name,
        authorName: knownAuthorName(ctx, state, me, note.author),
        authorFingerprint: personFor(state, note.author),
        authorDevice: note.author,
        warnings: note.warnings.map((w) => w.message),
      }),
    }));
  const unreadable = [
    ...changes.failed.filter((f) => !meta.has(f.noteId)).map((f) => ({ noteId: f.noteId, reason: f.reason })),
    ...changes.vanished.filter((v) => !meta.has(v.noteId)).map((v) => ({ noteId: v.noteId, reason: 'vanished' as const })),
  ];
  const skipped = await Promise.all(
    unreadable.map(async ({ noteId, reason }) => {
      const cached = await cachedNote(ctx, groupId, noteId);
      return { noteId, title: cached?.title || null, ...noteFailureWords(reason, true) };
    }),
  );
  return { groupName: row.name, files, skipped };
}
