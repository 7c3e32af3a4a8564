/**
 * People (DESIGN §3): each person's device chain, a signed, hash-linked list of the
 * devices that speak for them, named by the founding device's fingerprint. The server
 * stores chains and answers lookups by person or by device; it replays every append
 * with the chain rules (services/people-chains.ts) and keeps one person per device.
 * Clients replay what they read, pin heads and compare them with peers: the server can
 * withhold or roll a chain back like any log, and clients notice.
 *
 * Any signed-in device may read a chain (it holds public bundles only); only a current
 * device of the person may append to it.
 */
import { personAppendInput, personGetInput, personOfDeviceInput } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { appendToChain } from '../services/people-chains.ts';
import { authedProcedure, router } from '../trpc/init.ts';

export const peopleRouter = router({
  /** The person's whole chain and its head. NOT_FOUND when none is stored. */
  get: authedProcedure.input(personGetInput).query(async ({ ctx, input }) => {
    const chain = await ctx.store.getChain(input.person);
    if (!chain) throw apiError('NOT_FOUND', 'no device chain is stored for this person: check the person id (the founding device\'s fingerprint)');
    return chain;
  }),

  /**
   * The chain that names this device (as a current device, or as one its person
   * unlinked: the device learns it was unlinked). NOT_FOUND when no stored chain names it.
   */
  ofDevice: authedProcedure.input(personOfDeviceInput).query(async ({ ctx, input }) => {
    const standing = await ctx.store.deviceStanding(input.device);
    const chain = standing ? await ctx.store.getChain(standing.person) : null;
    if (!chain) throw apiError('NOT_FOUND', 'no stored device chain names this device: its person has not published a chain here');
    return chain;
  }),

  /**
   * Appends entries with compare-and-set: `entries[0].seq` must be the head's seq + 1
   * (0, with a `found` entry, publishes a new person), else CONFLICT with the current
   * head. The entries must follow the chain rules (CHAIN_REJECTED with `reason`), leave
   * the signed-in device a current device of the person (the founding device, for a
   * new person), and link no device that belongs to another person
   * (CHAIN_REJECTED `device-claimed`). Returns the new head. A device it unlinks hears
   * nothing more of any group on its live streams, at once (live-hub.ts).
   */
  append: authedProcedure.input(personAppendInput).mutation(async ({ ctx, input }) => {
    const head = await appendToChain(ctx.store, input.person, input.entries, ctx.device, ctx.now());
    for (const entry of input.entries) if (entry.op === 'unlink') await ctx.feed.publish({ kind: 'unlinked', device: entry.body.device });
    return { head };
  }),
});
