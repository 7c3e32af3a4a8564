/** Public identity bundles of devices that have signed in (public keys only). */
import { identityGetInput } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { authedProcedure, router } from '../trpc/init.ts';

export const identitiesRouter = router({
  /** The bundle of a device by its fingerprint. Clients verify it themselves (`parseBundle`, fingerprint). */
  get: authedProcedure.input(identityGetInput).query(async ({ ctx, input }) => {
    const bundle = await ctx.store.getIdentity(input.fingerprint);
    if (!bundle) throw apiError('NOT_FOUND', 'no device with this fingerprint has signed in here: check the fingerprint');
    return bundle;
  }),
});
