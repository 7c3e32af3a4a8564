/**
 * A note's history, for the side panel (the group's export is note-export.ts):
 * - history: every version of a note, newest first, as the SDK verified it (one signed
 *   chain from version 1: `GroupClient.noteHistory`), with author, time and key
 *   generation; a version this device cannot decrypt is listed with why;
 * - restore: an earlier version's title and text saved again as a new version, on top
 *   of the version the person saw as the newest (someone who saved since is a conflict,
 *   never overwritten); the text comes from the verified chain, not from the page.
 */
import { NoteConflictError, type NoteVersion } from '@conclave/shared/client';
import { sealNoteBody } from '../db/at-rest.ts';
import type { Request } from '../messages/protocol.ts';
import type { NoteHistoryView, NoteVersionView, RestoredVersionView } from '../messages/views.ts';
import { requireIdentity } from './connection.ts';
import type { Ctx } from './context.ts';
import { fail, noteFailureWords } from './errors.ts';
import { assertUsable, groupRow, viaClient } from './group-state.ts';
import { fetchable, refuseMetaNote } from './note-access.ts';
import { authorsOf } from './note-authors.ts';
import { keepNewer } from './note-rows.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

function versionView(author: ReturnType<typeof authorsOf>, version: NoteVersion): NoteVersionView {
  const common = {
    version: version.version,
    generation: version.generation,
    author: version.author,
    ...author(version.author),
    at: version.at,
    deleted: version.deleted,
  };
  if (version.ok) return { ok: true, ...common, title: version.title, body: version.body };
  return { ok: false, ...common, ...noteFailureWords(version.reason, true) };
}

/** Every version of a note, newest first, verified as one chain by the SDK (a broken chain fails by name). */
export async function noteHistory(ctx: Ctx, request: Req<'notes.history'>): Promise<NoteHistoryView> {
  const { groupId, noteId } = request;
  const connection = await fetchable(ctx, groupId);
  await refuseMetaNote(connection, groupId, noteId);
  const versions = await viaClient(ctx, connection, groupId, () => connection.client.noteHistory(groupId, noteId));
  const [state, me] = await Promise.all([connection.client.state(groupId), requireIdentity(ctx.db)]);
  const author = authorsOf(ctx, state, me);
  return { noteId, versions: versions.map((v) => versionView(author, v)) };
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
  await refuseMetaNote(connection, groupId, noteId);
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
