/**
 * Link offers (DESIGN §3, linking by typed code): a new device waiting to be linked
 * posts its public bundle under a lookup derived from its link code; the existing
 * device types the code, derives the same lookup and finds the bundle. The code's
 * secret never reaches the server, and the peer-channel proof the two devices run
 * afterwards catches a server that swapped the bundle. An offer lives at most
 * `LINK_OFFER_MAX_MS`; expired offers are purged with the other housekeeping.
 */
import { fingerprintOf, LINK_OFFER_MAX_MS, linkFindInput, linkOfferInput } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { authedProcedure, router } from '../trpc/init.ts';

export const linksRouter = router({
  /**
   * Posts the signed-in device's own bundle under `lookup` until `expiresAt` (in the
   * future, at most LINK_OFFER_MAX_MS ahead). One device per lookup: the same device
   * may post again (renew), another device is refused (CONFLICT) until the offer expires.
   */
  offer: authedProcedure.input(linkOfferInput).mutation(async ({ ctx, input }) => {
    const now = ctx.now();
    if (fingerprintOf(input.bundle) !== ctx.device) throw apiError('FORBIDDEN', "a link offer carries the signed-in device's own bundle: sign in with the device waiting to be linked");
    if (input.expiresAt <= now) throw apiError('BAD_REQUEST', 'expiresAt is in the past: an offer must expire in the future');
    if (input.expiresAt > now + LINK_OFFER_MAX_MS) {
      throw apiError('BAD_REQUEST', `an offer lives at most ${LINK_OFFER_MAX_MS / 60_000} minutes: set expiresAt at most that far ahead`);
    }
    if (!(await ctx.store.putLinkOffer(input.lookup, ctx.device, input.bundle, input.expiresAt, now))) {
      throw apiError('CONFLICT', 'another device already waits under this link code: make a new link code on the new device');
    }
    return { expiresAt: input.expiresAt };
  }),

  /** The bundle waiting under `lookup`; NOT_FOUND when there is none or it expired. */
  find: authedProcedure.input(linkFindInput).query(async ({ ctx, input }) => {
    const offer = await ctx.store.findLinkOffer(input.lookup, ctx.now());
    if (!offer) throw apiError('NOT_FOUND', 'no device waits under this link code (or its offer expired): check the code, or make a new one on the new device');
    return offer;
  }),
});
