/**
 * Invites (DESIGN §6): a joiner who holds an invite code looks the invite up by its id
 * (the invite's public key, derived from the code's secret; the server never sees the
 * secret), gets the whole log to validate and accept, and, for a pre-keyed invite, the
 * key box sealed to the invite.
 */
import { inviteLookupInput, MAX_ENTRIES_PER_CALL, type GroupState, type InviteId, type KeyBox, type LogEntry } from '../../../shared/src/verify.ts';
import { apiError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { authedProcedure, router } from '../trpc/init.ts';

/** Every entry up to `state.seq` (the validated head), page by page. */
async function wholeLog(store: Store, state: GroupState): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  while (entries.length <= state.seq) {
    const page = await store.readLog(state.groupId, entries.length, MAX_ENTRIES_PER_CALL, state.seq);
    if (page.length === 0) break;
    entries.push(...page);
  }
  return entries;
}

export const invitesRouter = router({
  /**
   * The group, its whole log and the pre-keyed boxes (every sender's box at the newest
   * generation the invite has any box for, ordered by sender; empty for an invite that
   * is not pre-keyed) of an invite that is open by the server's clock: not used,
   * not cancelled, not expired. Otherwise INVITE_CLOSED; an unknown id is NOT_FOUND.
   */
  lookup: authedProcedure.input(inviteLookupInput).query(async ({ ctx, input }) => {
    const unknown = () => apiError('NOT_FOUND', 'no invite with this id is stored here: check the invite code, or ask for a new invite');
    const groupId = await ctx.store.findInvite(input.inviteId);
    if (!groupId) throw unknown();
    const state = await ctx.groups.stateOf(groupId);
    const invite = state?.invites.get(input.inviteId);
    if (!state || !invite) throw unknown();
    if (invite.usedBy) throw apiError('INVITE_CLOSED', 'this invite has already been used: ask for a new invite');
    if (invite.revokedAt !== undefined) throw apiError('INVITE_CLOSED', 'this invite was cancelled because the admin who made it is no longer an admin: ask for a new invite');
    if (invite.expiresAt < ctx.now()) throw apiError('INVITE_CLOSED', 'this invite has expired: ask for a new invite');
    const recipient: KeyBox['recipient'] = { kind: 'invite', id: input.inviteId as InviteId };
    const [entries, boxes] = await Promise.all([wholeLog(ctx.store, state), ctx.store.boxesFor(groupId, recipient)]);
    const newest = boxes.reduce((g, b) => Math.max(g, b.generation), -1);
    return { groupId, entries, boxes: boxes.filter((b) => b.generation === newest) };
  }),
});
