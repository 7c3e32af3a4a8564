/**
 * The few storage API reads the background makes with its own session: who waits in
 * a group's key mailbox (admins), and which notes changed since the person last
 * listed them (headers only: nothing is decrypted to count them).
 */
import { call } from '@conclave/shared/client';
import type { NoteHeader } from '@conclave/shared/protocol';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import type { MetaSlot } from './meta-notes.ts';
import { metaIdsOf } from './names.ts';
import { headersSince } from './note-cache.ts';

/** Members waiting in the mailbox for the current key (admins only). */
export async function pendingRequests(connection: Connection, groupId: GroupId): Promise<Fingerprint[]> {
  const keeper = await connection.api();
  const pending = await keeper.run(() => call('reading key requests', () => keeper.api.mailbox.pending.query({ groupId })));
  return pending.map((p) => p.fingerprint);
}

/** Notes others changed since the person last listed the group (meta and deleted notes left out). */
export async function countUnread(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<number> {
  const row = await ctx.db.groups.get(groupId);
  if (!row || row.removed || !holdsCurrentKey(row)) return 0;
  const keeper = await connection.api();
  const { items } = await keeper.run(() => headersSince(keeper.api, groupId, row.seenCursor));
  return unreadAmong(items, await metaIdsOf(ctx, groupId), connection.identity.fingerprint);
}

/** Of some changed notes' headers, those that count as unread: by others, not deleted, not meta notes. */
export function unreadAmong(headers: NoteHeader[], meta: Map<NoteId, MetaSlot>, me: Fingerprint): number {
  return headers.filter((h) => h.author !== me && !h.deleted && !meta.has(h.noteId)).length;
}
