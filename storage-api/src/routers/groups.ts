/**
 * Groups and their signed logs (DESIGN §4). The server replays every entry with the
 * same rules the clients use before it stores it (defence in depth: no client trusts
 * this check), stores with compare-and-set on `seq`, and derives the membership and
 * invite index rows from the validated state in the same transaction.
 *
 * Who reads a log: current members read all of it (and so does a device a stored chain
 * links to a current member, so it can catch the log up); a departed member (removed,
 * left, replaced) reads up to and including the entry that removed them, so its client
 * can see why it lost access, and nothing after; anyone else is refused.
 *
 * Every check is by device: the session is a device, and it counts as a member while
 * the log lists it as a current device of a current member (`state.devices`). A device
 * its person unlinked reads up to the entry that unlinked it, like a removed member.
 *
 * Every device chain the entries carry must agree with the person's stored chain; what
 * they carry beyond a stored head is stored in the chain first (services/chain-agreement.ts).
 *
 * Who writes: every entry must be authored by the signed-in device. A device that is
 * not a current member's may append only its own `add` that carries an invite
 * acceptance (joining), or a `devices` entry whose chain links it; the log rules
 * check the rest.
 */
import {
  currentGeneration,
  fingerprintOf,
  groupCreateInput,
  logAppendInput,
  logHead,
  logReadInput,
  LogVerificationError,
  type DeviceEntry,
  type Fingerprint,
  type GroupState,
  type LogEntry,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { confirmedGeneration, requireRotationBoxes, validateBoxes } from '../services/box-rules.ts';
import { refuseStaleChains, settleChains } from '../services/chain-agreement.ts';
import { claimedElsewhere, isUnlinked, linkedToMember, unlinkedInLog, unlinkedRecipients, withoutUnlinkedRecipients } from '../services/device-standing.ts';
import { publishAppend } from '../services/event-feed.ts';
import { checkAcceptancesOpen, checkClock, indexesFor, logRejected, validateEntries } from '../services/log-writes.ts';
import { authedProcedure, notAMemberDevice, router } from '../trpc/init.ts';

function checkAuthors(entries: readonly LogEntry[], device: Fingerprint): void {
  for (const entry of entries) {
    if (entry.author !== device) {
      throw apiError('FORBIDDEN', `entry ${entry.seq} is authored by another device: a session appends only entries its own device signed`);
    }
  }
}

/** Whether a device chain (as sent, not yet validated) makes `device` one of its devices. */
function chainNames(chain: readonly DeviceEntry[], device: Fingerprint): boolean {
  return chain.some((e) => (e.op === 'found' || e.op === 'link') && fingerprintOf(e.body.device) === device);
}

/**
 * A device that does not speak for a current member may only join (its first entry its
 * own `add` with an invite acceptance, in a chain that names it) or bring its person's
 * devices up to date (a `devices` entry whose chain links it: a newly linked device
 * catching a group up). The log rules check the rest (signatures, who may sign).
 */
function checkJoining(state: GroupState, entries: readonly LogEntry[], device: Fingerprint): void {
  if (state.devices.has(device)) return;
  const first = entries[0]!;
  const joining = first.op === 'add' && first.body.acceptance !== undefined && chainNames(first.body.member, device);
  const catchingUp = first.op === 'devices' && state.members.has(first.body.person) && chainNames(first.body.entries, device);
  if (joining || catchingUp) return;
  if (state.departedDevices.get(device)?.how === 'unlinked') throw notAMemberDevice(state, device);
  throw apiError('FORBIDDEN', 'only current members can change this group; to join, append your own add entry with an invite acceptance');
}

/** LOG_REJECTED `device-claimed` when the entries give a member a device a stored chain gives to another person. */
async function refuseClaimed(store: Store, before: GroupState | null, after: GroupState): Promise<void> {
  const claimed = await claimedElsewhere(store, before, after);
  if (claimed) {
    throw logRejected(new LogVerificationError('device-claimed', `a device of ${claimed.person} belongs to another person's device chain`));
  }
}

function conflict(head: { seq: number; hash: string } | null, what: string): Error {
  return apiError('CONFLICT', `${what}: fetch the log from your pinned head, rebuild the change on it and send it again`, head ? { head } : {});
}

export const groupsRouter = router({
  /**
   * Creates a group from its first entries (`create`, usually then `recovery`) and the
   * key boxes that go with them (generation 0 sealed to the recovery recipient).
   */
  create: authedProcedure.input(groupCreateInput).mutation(async ({ ctx, input }) => {
    const { entries, boxes } = input;
    const first = entries[0]!;
    if (first.op !== 'create') throw apiError('LOG_REJECTED', 'entry 0 must be a create entry: a group log starts with create', { reason: 'malformed' });
    checkAuthors(entries, ctx.device);
    const now = ctx.now();
    checkClock(entries, now, ctx.config.clockSkewMs);
    const state = await validateEntries(null, entries, now);
    await refuseClaimed(ctx.store, null, state);
    await refuseStaleChains(ctx.store, state, entries);
    await validateBoxes(state, boxes, ctx.device, now, ctx.config.clockSkewMs, await unlinkedRecipients(ctx.store, boxes));
    // Last before the log's own compare-and-set: it may publish the creator's chain.
    await settleChains(ctx.store, null, state, entries, now);
    const result = await ctx.store.appendEntries(state.groupId, entries, logHead(state), { ...indexesFor(null, state, entries), boxes });
    if (!result.ok) throw conflict(result.head, 'a group with this id already exists');
    await ctx.groups.remember(state.groupId, state);
    await publishAppend(ctx.feed, state.groupId, result.head, boxes);
    return { groupId: state.groupId, head: result.head };
  }),

  /**
   * Reads entries `fromSeq …` (at most `limit`). `head` is the last entry the caller may
   * read: the group's head for a member, the entry that removed a departed member.
   */
  log: authedProcedure.input(logReadInput).query(async ({ ctx, input }) => {
    const state = await ctx.groups.stateOf(input.groupId);
    if (!state) throw apiError('NOT_FOUND', 'no group with this id is stored here: check the group id');
    let untilSeq: number;
    const unlinked = await isUnlinked(ctx.store, ctx.device);
    if (!unlinked && (state.devices.has(ctx.device) || (await linkedToMember(ctx.store, state, ctx.device)))) {
      untilSeq = state.seq;
    } else {
      const departed = state.departedDevices.get(ctx.device);
      if (!departed) {
        // Unlinked in its person's chain while this log still lists it: nothing more to read.
        if (unlinked) throw notAMemberDevice(state, ctx.device, true);
        throw apiError('FORBIDDEN', 'only members of this group can read its log: ask an admin of the group to add you');
      }
      untilSeq = departed.seq;
    }
    const head = { seq: untilSeq, hash: state.hashes[untilSeq]! };
    const entries = input.fromSeq > untilSeq ? [] : await ctx.store.readLog(input.groupId, input.fromSeq, input.limit, untilSeq);
    return { entries, head };
  }),

  /**
   * Appends entries with compare-and-set: `entries[0].seq` must be the head's seq + 1,
   * else CONFLICT with the current head. The boxes of a rotation these entries start
   * (or of a pre-keyed invite they create) are checked against the new state and
   * stored in the same transaction.
   */
  append: authedProcedure.input(logAppendInput).mutation(async ({ ctx, input }) => {
    const { groupId, entries } = input;
    // A box to a device a stored chain has unlinked is dropped here, not refused (see withoutUnlinkedRecipients).
    const boxes = await withoutUnlinkedRecipients(ctx.store, input.boxes);
    for (const entry of entries) {
      if (entry.groupId !== groupId) throw apiError('BAD_REQUEST', `entry ${entry.seq} belongs to another group: append each group's entries to it`);
    }
    checkAuthors(entries, ctx.device);
    const state = await ctx.groups.stateOf(groupId);
    if (!state) throw apiError('NOT_FOUND', 'no group with this id is stored here: create it first');
    if (await isUnlinked(ctx.store, ctx.device)) throw notAMemberDevice(state, ctx.device, true);
    checkJoining(state, entries, ctx.device);
    if (entries[0]!.seq !== state.seq + 1) throw conflict(logHead(state), `the log's head is entry ${state.seq}, so the next entry is ${state.seq + 1}, not ${entries[0]!.seq}`);
    const now = ctx.now();
    checkClock(entries, now, ctx.config.clockSkewMs);
    const next = await validateEntries(state, entries, now);
    await refuseClaimed(ctx.store, state, next);
    checkAcceptancesOpen(next, entries, now);
    await refuseStaleChains(ctx.store, next, entries);
    await validateBoxes(next, boxes, ctx.device, now, ctx.config.clockSkewMs);
    // Only a new generation owes boxes, so only then is the device index asked.
    const rotates = next.generations.length > state.generations.length;
    await requireRotationBoxes(state, next, boxes, ctx.device, rotates ? await unlinkedInLog(ctx.store, next) : new Set());
    // Last before the log's own compare-and-set: it may append the chain entries the log gets to the stored chains.
    await settleChains(ctx.store, state, next, entries, now);
    const result = await ctx.store.appendEntries(groupId, entries, logHead(next), { ...indexesFor(state, next, entries), boxes });
    if (!result.ok) throw conflict(result.head, 'another change reached the log first');
    await ctx.groups.remember(groupId, next);
    await publishAppend(ctx.feed, groupId, result.head, boxes);
    const confirmed = confirmedGeneration(boxes, ctx.device);
    if (confirmed >= 0) await ctx.store.deleteKeyRequest(groupId, ctx.device, confirmed);
    return { head: result.head, generation: currentGeneration(next) };
  }),

  /**
   * Groups this device is or was in, with its status and the head it may read: the
   * group's head for a member, the entry that removed it otherwise (as `log` answers).
   */
  mine: authedProcedure.query(async ({ ctx }) => {
    const groups = await ctx.store.groupsOf(ctx.device);
    // Its person's stored chain may have unlinked it before a group's log caught up.
    const unlinked = await isUnlinked(ctx.store, ctx.device);
    return Promise.all(
      groups.map(async ({ groupId, head, status, untilSeq }) => {
        if (status === 'member') return { groupId, head, status: unlinked ? ('unlinked' as const) : status };
        if (untilSeq === null) return { groupId, head, status };
        const hash = (await ctx.groups.stateOf(groupId))?.hashes[untilSeq];
        return { groupId, head: hash ? { seq: untilSeq, hash } : head, status };
      }),
    );
  }),
});
