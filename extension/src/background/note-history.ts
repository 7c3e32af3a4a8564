/**
 * A note's history and a group's export, for the side panel:
 * - history: every version of a note, newest first, as the SDK verified it (one signed
 *   chain from version 1: `GroupClient.noteHistory`), with author, time and key
 *   generation; a version this device cannot decrypt is listed with why;
 * - restore: an earlier version's title and text saved again as a new version, on top
 *   of the version the person saw as the newest (someone who saved since is a conflict,
 *   never overwritten); the text comes from the verified chain, not from the page;
 * - export: every readable note of the group as a Markdown file (the SDK's
 *   `noteMarkdown`, the one `conclave export` writes), handed to the page, which zips it
 *   and saves it on this computer. Nothing is sent anywhere.
 */
import { NoteConflictError, noteFileName, noteMarkdown, type NoteVersion } from '@conclave/shared/client';
import type { GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import { sealNoteBody } from '../db/at-rest.ts';
import type { IdentityRow } from '../db/schema.ts';
import type { Request } from '../messages/protocol.ts';
import type { ExportView, NoteHistoryView, NoteVersionView, RestoredVersionView } from '../messages/views.ts';
import { requireIdentity, type Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { fail, noteFailureWords } from './errors.ts';
import { assertUsable, groupRow, quoted, viaClient } from './group-state.ts';
import { cachedNote, keepNewer } from './note-rows.ts';
import { isMine, personFor } from './people.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/** The group, refused when this device was removed from it (it cannot read versions it never fetched). */
async function readable(ctx: Ctx, groupId: GroupId): Promise<Connection> {
  const row = await groupRow(ctx, groupId);
  if (row.removed) {
    fail('removed', `This device was removed from ${quoted(row.name)}.`, 'It keeps the notes it already showed you, but it cannot fetch their earlier versions or export them. Ask an admin to invite you again if you need them.');
  }
  return ctx.connections.get();
}

async function refuseMeta(connection: Connection, groupId: GroupId, noteId: NoteId): Promise<void> {
  if ((await connection.client.metaNotes(groupId)).has(noteId)) fail('invalid-request', 'There is no such note in this group.', 'Go back to the list of notes.');
}

/** The name of whoever a device speaks for: this person's own, else the published one (null when not known yet). */
function namer(ctx: Ctx, state: GroupState, me: IdentityRow): (author: Fingerprint) => string | null {
  return (author) => (isMine(state, author, me.identity.fingerprint) ? me.displayName : ctx.trust.name(personFor(state, author)));
}

function versionView(ctx: Ctx, state: GroupState, me: IdentityRow, version: NoteVersion): NoteVersionView {
  const known = namer(ctx, state, me)(version.author);
  const common = {
    version: version.version,
    generation: version.generation,
    author: version.author,
    authorName: known ?? ctx.trust.nameIn(state, version.author),
    authorTrust: ctx.trust.view(state, version.author, me.identity.fingerprint),
    at: version.at,
    deleted: version.deleted,
  };
  if (version.ok) return { ok: true, ...common, title: version.title, body: version.body };
  return { ok: false, ...common, ...noteFailureWords(version.reason, true) };
}

/** Every version of a note, newest first, verified as one chain by the SDK (a broken chain fails by name). */
export async function noteHistory(ctx: Ctx, request: Req<'notes.history'>): Promise<NoteHistoryView> {
  const { groupId, noteId } = request;
  const connection = await readable(ctx, groupId);
  await refuseMeta(connection, groupId, noteId);
  const versions = await viaClient(ctx, connection, groupId, () => connection.client.noteHistory(groupId, noteId));
  const [state, me] = await Promise.all([connection.client.state(groupId), requireIdentity(ctx.db)]);
  return { noteId, versions: versions.map((v) => versionView(ctx, state, me, v)) };
}

/**
 * Saves an earlier version's title and text as a new version after `baseVersion` (the
 * newest the person saw in the history). The version is read again from the verified
 * chain here, so the page only names it.
 */
export async function restoreVersion(ctx: Ctx, request: Req<'notes.restore'>): Promise<RestoredVersionView> {
  const { groupId, noteId, version, baseVersion } = request;
  assertUsable(await groupRow(ctx, groupId));
  const connection = await ctx.connections.get();
  await refuseMeta(connection, groupId, noteId);
  const changedSince = (): never =>
    fail('conflict', 'Someone saved a newer version of this note since you opened its history.', 'Look at the history again: the newest version is at the top. Then restore the one you want.');
  const versions = await viaClient(ctx, connection, groupId, () => connection.client.noteHistory(groupId, noteId));
  if (versions[0]?.version !== baseVersion) changedSince();
  const chosen = versions.find((v) => v.version === version);
  if (!chosen) fail('invalid-request', `This note has no version ${version}.`, 'Go back to its history and choose a version from the list.');
  if (version === baseVersion) fail('invalid-request', `Version ${version} is already the newest.`, 'Choose an earlier version to restore.');
  if (!chosen.ok) fail('verification-failed', `Version ${version} cannot be restored: this device cannot read it.`, 'Choose another version, or ask the member who wrote it.');
  if (chosen.deleted) fail('invalid-request', `Version ${version} is the note's deletion.`, 'Choose a version that has text.');
  try {
    const written = await viaClient(ctx, connection, groupId, () =>
      connection.client.writeNote(groupId, { title: chosen.title, body: chosen.body }, { noteId, version: baseVersion + 1 }),
    );
    // Cached with its text sealed, as a save is: a device removed later still reads what it wrote.
    const sealedBody = await sealNoteBody(ctx.db, groupId, noteId, written.version, chosen.body);
    await keepNewer(ctx, [{ groupId, noteId, version: written.version, title: chosen.title, author: connection.identity.fingerprint, at: ctx.now(), deleted: false, sealedBody }]);
    ctx.changed(groupId);
    return { noteId, version: written.version, restoredFrom: version };
  } catch (error) {
    if (error instanceof NoteConflictError) changedSince();
    throw error;
  }
}

/**
 * Every readable note of a group as a Markdown file, opened from the server in one SDK
 * listing (`changedNotes` from 0: one log sync, each note fetched once, bodies
 * included); notes that could not be opened are listed with why, their title when this
 * device had one.
 */
export async function exportNotes(ctx: Ctx, request: Req<'notes.export'>): Promise<ExportView> {
  const { groupId } = request;
  const connection = await readable(ctx, groupId);
  const changes = await viaClient(ctx, connection, groupId, () => connection.client.changedNotes(groupId, 0));
  const [row, me] = await Promise.all([groupRow(ctx, groupId), requireIdentity(ctx.db)]);
  const { state, meta } = changes;
  const nameOf = namer(ctx, state, me);
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
        authorName: nameOf(note.author),
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
