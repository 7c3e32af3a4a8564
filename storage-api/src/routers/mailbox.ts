/**
 * The key mailbox (DESIGN §6.3): a member without the current group key leaves a
 * request; an admin who comes online reads who is waiting, checks them (verification
 * or the group's policy, on its own device) and posts key boxes with `boxes.post`.
 * A request is served only when the member confirms it opened the current key: by
 * posting a box sealed to itself (sender = recipient) at the current generation. A box
 * from someone else does not count — it may be junk. A confirmation also deletes the
 * member's request if it asked at that generation or below (boxes.post,
 * groups.append), so a served request does not come back at the next rotation; a
 * member that then lacks the new key asks again.
 */
import { currentGeneration, isAdmin, keyRequestInput } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { memberProcedure, router } from '../trpc/init.ts';

export const mailboxRouter = router({
  /** Records that this member waits for the current generation's key (again: the time is refreshed). */
  request: memberProcedure.input(keyRequestInput).mutation(async ({ ctx, input }) => {
    const generation = currentGeneration(ctx.group);
    const requestedAt = ctx.now();
    await ctx.store.putKeyRequest(input.groupId, ctx.device, generation, requestedAt);
    await ctx.feed.publish({ kind: 'request', groupId: input.groupId });
    return { generation, requestedAt };
  }),

  /**
   * Admins only (any current device of an admin): current devices of members (not the
   * recovery recipient) that asked for a key and
   * have not confirmed holding the current generation's key (no box from themselves
   * at the current generation), with the generation they asked at and when. Seal
   * them the current generation's key: it opens every older one.
   */
  pending: memberProcedure.input(keyRequestInput).query(async ({ ctx, input }) => {
    const state = ctx.group;
    if (!isAdmin(state, ctx.device)) throw apiError('FORBIDDEN', 'only admins of this group can read key requests: ask an admin to hand over the key');
    const [requests, confirmed] = await Promise.all([ctx.store.keyRequests(input.groupId), ctx.store.recipientsWithOwnBox(input.groupId, currentGeneration(state))]);
    return requests
      // Requests are by device: current devices of people (not the recovery recipient's key).
      .filter((r) => {
        const device = state.devices.get(r.fingerprint);
        return device !== undefined && device.person !== state.recovery && !confirmed.has(r.fingerprint);
      })
      .map((r) => ({ fingerprint: r.fingerprint, generation: r.generation, requestedAt: r.requestedAt }));
  }),
});
