/**
 * The person's remedy for a peer alarm (group-state.ts `peerAlarm`): after checking
 * with the member whose device signed the head, they dismiss it — this device forgets
 * what that member's device signed (GroupClient.dismissPeerEvidence), so the alarm,
 * worked out from the stored evidence on the group's row, goes, and new notes can be
 * written again. Anything still true comes back at the next contact with that member.
 * (The other remedy, an admin removing that member, is `group.remove`.)
 */
import type { Request } from '../messages/protocol.ts';
import type { Answers } from '../messages/answers.ts';
import type { Ctx } from './context.ts';
import { groupAlarm, groupRow } from './group-state.ts';
import { updateBadge } from './summaries.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

export async function dismissPeerEvidence(ctx: Ctx, request: Req<'group.dismissPeerEvidence'>): Promise<Answers['group.dismissPeerEvidence']> {
  const { groupId, peer } = request;
  await groupRow(ctx, groupId);
  const connection = await ctx.connections.get();
  await connection.client.dismissPeerEvidence(groupId, peer);
  ctx.changed(groupId);
  await updateBadge(ctx);
  return { groupId, alarm: groupAlarm(ctx, await groupRow(ctx, groupId)) };
}
