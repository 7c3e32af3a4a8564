/**
 * Key boxes (DESIGN §5, PROTOCOL §7): a generation's seed sealed to one member (or to
 * a pre-keyed invite) and signed by its sender. The server checks what it can without
 * opening them (see services/box-rules.ts); only the recipient reads its own boxes.
 */
import { boxesMineInput, boxesPostInput } from '@conclave/shared/verify';
import { confirmedGeneration, validateBoxes } from '../services/box-rules.ts';
import { unlinkedRecipients } from '../services/device-standing.ts';
import { publishBoxes } from '../services/event-feed.ts';
import { memberProcedure, router } from '../trpc/init.ts';

export const boxesRouter = router({
  /**
   * Stores boxes this device sealed (e.g. answering the mailbox). Each must be for a
   * current member or an open pre-keyed invite, at a generation the sender held;
   * otherwise BOX_REJECTED names the box. Boxes are kept per sender: a later box from
   * the same sender for the same recipient and generation replaces that sender's
   * earlier one, and never another sender's. A box a member seals to itself at the
   * current generation confirms it opened that key (it serves its mailbox request).
   */
  post: memberProcedure.input(boxesPostInput).mutation(async ({ ctx, input }) => {
    await validateBoxes(ctx.group, input.boxes, ctx.device, ctx.now(), ctx.config.clockSkewMs, await unlinkedRecipients(ctx.store, input.boxes));
    await ctx.store.putBoxes(input.boxes);
    await publishBoxes(ctx.feed, input.groupId, input.boxes);
    // A box to itself confirms the key arrived: its mailbox request (at that generation or below) is served.
    const confirmed = confirmedGeneration(input.boxes, ctx.device);
    if (confirmed >= 0) await ctx.store.deleteKeyRequest(input.groupId, ctx.device, confirmed);
    return { stored: input.boxes.length };
  }),

  /**
   * This device's boxes in a group (one generation, or all) from every sender, ordered
   * by generation (oldest first), then by sender fingerprint; the client tries each
   * and reports one that does not open. The caller
   * must be a current member — the recovery identity, signed in with its own keys, is
   * one; a removed member gets nothing newer (FORBIDDEN).
   */
  mine: memberProcedure.input(boxesMineInput).query(({ ctx, input }) => ctx.store.boxesFor(input.groupId, { kind: 'member', id: ctx.device }, input.generation)),
});
