/**
 * The few storage API reads the background makes with its own session: who waits in
 * a group's key mailbox (admins), and which notes changed since the person last
 * listed them (headers only: nothing is decrypted to count them).
 */
import { call } from '../../../shared/src/client/errors.ts';
import { listHeaders } from '../../../shared/src/client/notes.ts';
import type { Fingerprint, GroupId } from '../../../shared/src/protocol/ids.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { metaIdsOf } from './names.ts';

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
  const { items } = await keeper.run(() => listHeaders(keeper.api, groupId, row.seenCursor));
  const meta = await metaIdsOf(ctx, groupId);
  const me = connection.identity.fingerprint;
  return items.filter((h) => h.author !== me && !h.deleted && !meta.has(h.noteId)).length;
}
