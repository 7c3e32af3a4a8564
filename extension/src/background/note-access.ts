/**
 * The checks every note request that goes to the server makes first, shared by
 * note-requests.ts, note-history.ts and note-export.ts so each refusal has one wording:
 * a group that removed this device is not fetched (group-state.ts `refuseRemoved`), and
 * a group's names note (a meta note) is not a note a page may read, change or restore.
 */
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { fail } from './errors.ts';
import { groupRow, refuseRemoved } from './group-state.ts';

/**
 * The connection for reading a group from the server.
 * @throws {BackgroundError} `removed` when the group removed this device.
 */
export async function fetchable(ctx: Ctx, groupId: GroupId): Promise<Connection> {
  refuseRemoved(await groupRow(ctx, groupId));
  return ctx.connections.get();
}

/**
 * Refuses a note id that is one of the group's meta notes (the members' names).
 * @throws {BackgroundError} `invalid-request`, in the words the pages show for a note that is not there.
 */
export async function refuseMetaNote(connection: Connection, groupId: GroupId, noteId: NoteId): Promise<void> {
  if ((await connection.client.metaNotes(groupId)).has(noteId)) fail('invalid-request', 'There is no such note in this group.', 'Go back to the list of notes.');
}
