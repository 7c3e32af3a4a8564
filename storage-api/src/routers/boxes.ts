/**
 * Key boxes (DESIGN §5, PROTOCOL §7): a generation's seed sealed to one member (or to
 * a pre-keyed invite) and signed by its sender. The server checks what it can without
 * opening them (see services/box-rules.ts); only the recipient reads its own boxes.
 */
import { boxesMineInput, boxesPostInput } from '../../../shared/src/verify.ts';
import { validateBoxes } from '../services/box-rules.ts';
import { memberProcedure, router } from '../trpc/init.ts';

export const boxesRouter = router({
  /**
   * Stores boxes this device sealed (e.g. answering the mailbox). Each must be for a
   * current member or an open pre-keyed invite, at a generation the sender held;
   * otherwise BOX_REJECTED names the box. A later box for the same recipient and
   * generation replaces the earlier one.
   */
  post: memberProcedure.input(boxesPostInput).mutation(async ({ ctx, input }) => {
    await validateBoxes(ctx.group, input.boxes, ctx.device, ctx.now(), ctx.config.clockSkewMs);
    await ctx.store.putBoxes(input.boxes);
    return { stored: input.boxes.length };
  }),

  /**
   * This device's boxes in a group (one generation, or all), oldest first. The caller
   * must be a current member — the recovery identity, signed in with its own keys, is
   * one; a removed member gets nothing newer (FORBIDDEN).
   */
  mine: memberProcedure.input(boxesMineInput).query(({ ctx, input }) => ctx.store.boxesFor(input.groupId, { kind: 'member', id: ctx.device }, input.generation)),
});
