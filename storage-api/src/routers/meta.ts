/** Version and health of the API, for clients and load balancers. */
import { PROTOCOL_VERSION } from '@conclave/shared/verify';
import { publicProcedure, router } from '../trpc/init.ts';

export const SERVER_VERSION = '0.1.0';

export const metaRouter = router({
  version: publicProcedure.query(() => ({ protocol: PROTOCOL_VERSION, server: SERVER_VERSION })),
});
