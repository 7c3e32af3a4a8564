/**
 * A group as this device holds it, and the one way it is brought up to date: a sync
 * that never continues silently. A log the server rolled back or forked (or one that
 * breaks the group's rules) raises an alarm on the group — a red banner naming it —
 * and fails with `fork`; a log that no longer lists this device marks it removed.
 *
 * What members' devices signed about their heads (shared/src/client/peer-evidence.ts)
 * is a second kind of alarm, `peerAlarm`: it is worked out from the evidence each time
 * it is shown, never stored, so it clears by itself when the evidence is resolved —
 * and, unlike a forked log from the server, it stops new notes but not syncing or
 * talking to peers (that is how it resolves). A member can sign a made-up head, so the
 * person can also dismiss it after checking with that member (peer-evidence.ts), and
 * an admin can remove that member. Unsigned words never raise either.
 */
import { DeviceChainError, LogVerificationError } from '@conclave/shared/crypto';
import { currentGeneration, isAdmin, type GroupState } from '@conclave/shared/crypto';
import { ApiCallError, GroupClientError, peerEvidenceStatus } from '@conclave/shared/client';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { groupRowOf, updateGroupRow } from '../db/key-store.ts';
import type { GroupRow } from '../db/schema.ts';
import type { PeerAlarmView } from '../messages/views.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { BackgroundError, chainRejectionWords, fail, isNetworkError, logRejectionWords } from './errors.ts';
import { forgetKeyWait } from './key-wait-rows.ts';
import { isMemberDevice, isMine, isPerson, personFor } from './people.ts';

export const FORK_ACTION = 'Stop using this group and tell its members; the server may be showing you a different history.';

export function quoted(name: string | null): string {
  return name ? `"${name}"` : 'this group';
}

export async function groupRow(ctx: Ctx, groupId: GroupId): Promise<GroupRow> {
  const row = await groupRowOf(ctx.db, groupId);
  if (!row) fail('unknown-group', 'This device does not know this group.', 'Join it with an invite, or restore it with its recovery code.');
  return row;
}

export function holdsCurrentKey(row: { state: GroupState; seeds: ReadonlyMap<number, unknown> }): boolean {
  return row.seeds.has(currentGeneration(row.state));
}

function forkError(name: string | null, error: LogVerificationError | DeviceChainError): BackgroundError {
  if (error instanceof DeviceChainError) {
    // A member's device list (their chain) in this group contradicts the one this device pinned.
    return new BackgroundError('fork', `A member's list of devices in ${quoted(name)} cannot be trusted: ${chainRejectionWords(error.reason)}.`, FORK_ACTION);
  }
  const what =
    error.reason === 'rollback'
      ? `The storage API is showing an older history of ${quoted(name)} than this device has already seen`
      : error.reason === 'fork'
        ? `The storage API is showing a different history of ${quoted(name)} than this device saw before`
        : `The history of ${quoted(name)} from the storage API cannot be trusted: ${logRejectionWords(error.reason)}`;
  return new BackgroundError('fork', `${what}.`, FORK_ACTION);
}

function ago(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < 90) return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const hours = Math.round(minutes / 60);
  return hours < 36 ? `${hours} hours ago` : `${Math.round(hours / 24)} days ago`;
}

interface PeerAlarm {
  kind: 'fork' | 'behind';
  peer: Fingerprint;
  text: string;
}

/**
 * The alarm members' signed heads raise for a group (or null): a signed head that
 * contradicts ours, or one ahead of ours the server has not shown this device within
 * the bound (WITNESS_BOUND_MS). It names the member whose device signed it and says
 * plainly that either the server is holding changes back or that device is wrong (a
 * member can sign a made-up head), and how it clears by itself.
 */
function peerAlarmOf(ctx: Pick<Ctx, 'now' | 'trust'>, row: Pick<GroupRow, 'name' | 'witnessed' | 'forkEvidence' | 'removed' | 'state'>): PeerAlarm | null {
  if (row.removed) return null;
  const status = peerEvidenceStatus(row, ctx.now());
  if (status.kind === 'fork') {
    const who = ctx.trust.labelledIn(row.state, status.fork.peer);
    return {
      kind: 'fork',
      peer: status.fork.peer,
      text:
        `${who}'s device signed a different history of ${quoted(row.name)} than the one this device holds (${ago(ctx.now() - status.fork.foundAt)}). ` +
        `Either the server is showing one of you a different history, or ${who}'s device is wrong (faulty, or making it up). New notes are paused. ` +
        `This warning clears by itself when ${who}'s device connects again and shows the same history as this one.`,
    };
  }
  if (status.kind === 'behind' && status.overdue) {
    const who = ctx.trust.labelledIn(row.state, status.witnessed.peer);
    return {
      kind: 'behind',
      peer: status.witnessed.peer,
      text:
        `The server has not shown this device changes to ${quoted(row.name)} that ${who}'s device already has (seen ${ago(ctx.now() - status.witnessed.seenAt)}). ` +
        `Either the server is holding them back from you — for example someone's removal — or ${who}'s device is wrong (faulty, or making them up). ` +
        `New notes are paused, so nothing is written with an out-of-date key. This warning clears by itself as soon as the server shows those changes.`,
    };
  }
  return null;
}

/** The alarm members' signed heads raise for a group, in words (or null). */
export function peerAlarm(ctx: Pick<Ctx, 'now' | 'trust'>, row: Pick<GroupRow, 'name' | 'witnessed' | 'forkEvidence' | 'removed' | 'state'>): string | null {
  return peerAlarmOf(ctx, row)?.text ?? null;
}

/**
 * Who signed the head behind the group's alarm and what this device may do about it —
 * only when the alarm shown is that one (a log that failed verification comes first
 * and is not dismissed this way).
 */
export function peerAlarmView(ctx: Pick<Ctx, 'now' | 'trust'>, row: GroupRow, me: Fingerprint | null): PeerAlarmView | null {
  if (row.alarm) return null;
  const alarm = peerAlarmOf(ctx, row);
  if (!alarm) return null;
  const { state } = row;
  // The head was signed by a device; removing means removing the person it speaks for.
  const person = personFor(state, alarm.peer);
  const canRemove = me !== null && isAdmin(state, me) && !isMine(state, alarm.peer, me) && isPerson(state, person);
  return { peer: alarm.peer, person, name: ctx.trust.labelledName(person), kind: alarm.kind, canRemove };
}

/** The alarm a group shows: a log that failed verification (kept), else what members' signed heads say. */
export function groupAlarm(ctx: Pick<Ctx, 'now' | 'trust'>, row: GroupRow): string | null {
  return row.alarm ?? peerAlarm(ctx, row);
}

/** Sets the group's alarm (kept until the group is left) and tells the pages. */
export async function raiseAlarm(ctx: Ctx, groupId: GroupId, text: string): Promise<void> {
  await updateGroupRow(ctx.db, groupId, { alarm: text });
  ctx.changed(groupId);
}

/** What a device removed from a group can still do, and what to do: the one wording for every refusal it meets. */
export const REMOVED_ACTION =
  'It keeps the notes it already showed you, to read here, but it can no longer fetch or change anything in the group (no new notes, no earlier versions, no export). Ask an admin to invite you again if you need it back.';

/** Refuses anything that needs the server for a group that removed this device (DESIGN §5: it keeps only what it already read). */
export function refuseRemoved(row: Pick<GroupRow, 'removed' | 'name'>): void {
  if (row.removed) fail('removed', `This device was removed from ${quoted(row.name)}.`, REMOVED_ACTION);
}

/** Refuses to change a group whose history was found forked, or that removed this device. */
export function assertUsable(row: GroupRow): void {
  if (row.alarm) fail('fork', row.alarm, FORK_ACTION);
  refuseRemoved(row);
}

/**
 * What the pages show of a group's row, in one string: the log's length (members,
 * roles), whether the current key is here, the removal, the alarms, the name, the key
 * chain's faults. When it differs after a call, the pages are told (`tellingChanges`).
 */
export function shownStamp(row: GroupRow | undefined): string {
  if (!row) return '';
  return [row.state.hashes.length, holdsCurrentKey(row), row.removed, row.alarm ?? '', row.name ?? '', row.witnessed?.length ?? 0, row.forkEvidence?.length ?? 0, row.faults?.length ?? 0].join('|');
}

/**
 * Runs `run` and tells the pages (`ctx.changed`) when the group's row changed in a way
 * they show — whoever started it (a tick, a live event, a page's own request), so a
 * key that arrived or a log that moved is never left unshown until the panel reopens.
 */
export async function tellingChanges<T>(ctx: Ctx, groupId: GroupId, run: () => Promise<T>): Promise<T> {
  const before = shownStamp(await groupRowOf(ctx.db, groupId));
  try {
    return await run();
  } finally {
    if (shownStamp(await groupRowOf(ctx.db, groupId)) !== before) ctx.changed(groupId);
  }
}

/** The SDK's `fetchKey` (which syncs first); the wait's row goes once the key is here. */
async function keyFetched(ctx: Ctx, connection: Connection, groupId: GroupId, unchanged?: GroupState): Promise<GroupState> {
  if (await connection.client.fetchKey(groupId)) await forgetKeyWait(ctx, groupId);
  else if (unchanged) return unchanged;
  return connection.client.state(groupId);
}

/**
 * Brings one group up to the server's head — and, when the log moved to a generation
 * whose key this device lacks, opens the box waiting for it (a rotation seals one to
 * every member who stays): a sync never leaves the group "waiting for the key" while
 * its box is on the server.
 * @param options.fetchKey false when the caller checks the mailbox itself next (a key-wait round).
 * @throws {BackgroundError} `fork` (and the alarm is raised) when the log cannot be trusted.
 */
export async function syncGroup(ctx: Ctx, connection: Connection, groupId: GroupId, options: { fetchKey?: boolean } = {}): Promise<GroupState> {
  const me = connection.identity.fingerprint;
  return tellingChanges(ctx, groupId, async () => {
    let state: GroupState;
    try {
      const held = await groupRowOf(ctx.db, groupId);
      // Without the key already, one SDK call syncs the log and opens the waiting box (a
      // sync first would cost one more round trip on the way to reading).
      const keyless = options.fetchKey !== false && held !== undefined && !held.removed && !holdsCurrentKey(held);
      state = keyless ? await keyFetched(ctx, connection, groupId) : await connection.client.sync(groupId);
      if (!keyless && options.fetchKey !== false && isMemberDevice(state, me) && !holdsCurrentKey((await groupRowOf(ctx.db, groupId))!)) {
        state = await keyFetched(ctx, connection, groupId, state);
      }
    } catch (error) {
      if (error instanceof LogVerificationError || error instanceof DeviceChainError) throw await alarmFor(ctx, groupId, error);
      throw error;
    }
    await noteRemoval(ctx, groupId, state, me);
    return state;
  });
}

/**
 * Runs one SDK call for a group (the call syncs the log itself when it needs to, once,
 * inside the group's lock — the background never syncs before it) and brings what it
 * found home: a log that failed verification raises the alarm; a log that no longer
 * lists this device marks the group removed and says so; a change the pages show
 * (the key arrived, the log moved) is told to them.
 * @param options.ownRules log rules the call checks this device's own new entry
 *   against: breaking one refuses the change (and raises no alarm).
 * @throws {BackgroundError} `fork` or `removed`; whatever else the call threw.
 */
export async function viaClient<T>(ctx: Ctx, connection: Connection, groupId: GroupId, run: () => Promise<T>, options: { ownRules?: ReadonlyArray<LogVerificationError['reason']> } = {}): Promise<T> {
  try {
    return await tellingChanges(ctx, groupId, run);
  } catch (error) {
    // A rule this device's own new entry breaks (`ownRules`: e.g. demoting the last
    // admin) is a refusal of the change, not a verdict on the server's log.
    if (error instanceof LogVerificationError && !options.ownRules?.includes(error.reason)) throw await alarmFor(ctx, groupId, error);
    // A member's device chain that forks or rolls back the one this device pinned: the same alarm.
    if (error instanceof DeviceChainError && (error.reason === 'fork' || error.reason === 'rollback')) throw await alarmFor(ctx, groupId, error);
    // The SDK found this device gone from the log it synced; or the server refused a
    // call without a sync (reading a note) — then one sync tells whether it was removed.
    const gone = error instanceof GroupClientError && error.reason === 'not-member';
    const refused = error instanceof ApiCallError && error.is('FORBIDDEN');
    if (gone || refused) {
      const state = gone ? await connection.client.state(groupId).catch(() => null) : await syncGroup(ctx, connection, groupId);
      if (state && (await noteRemoval(ctx, groupId, state, connection.identity.fingerprint))) {
        const row = await groupRowOf(ctx.db, groupId);
        refuseRemoved({ removed: true, name: row?.name ?? null });
      }
    }
    throw error;
  }
}

/**
 * The group's validated state, fresh enough for `ok`: this device's own copy when it
 * already passes (no network), else synced once and returned as it is then (the caller
 * says in words why it cannot go on). So a check that only a stale copy fails costs a
 * sync, and one that passes costs none — the SDK call after it syncs anyway.
 * @throws {BackgroundError} `fork` when the log cannot be trusted.
 */
export async function stateWhere(ctx: Ctx, connection: Connection, groupId: GroupId, ok: (state: GroupState, row: GroupRow) => boolean): Promise<{ state: GroupState; row: GroupRow }> {
  const row = await groupRow(ctx, groupId);
  if (ok(row.state, row)) return { state: row.state, row };
  const state = await syncGroup(ctx, connection, groupId);
  return { state, row: await groupRow(ctx, groupId) };
}

/** Raises the alarm for a log that failed verification; returns the error to throw. */
export async function alarmFor(ctx: Ctx, groupId: GroupId, error: LogVerificationError | DeviceChainError): Promise<BackgroundError> {
  const row = await groupRowOf(ctx.db, groupId);
  const failure = forkError(row?.name ?? null, error);
  if (row && !row.alarm) await raiseAlarm(ctx, groupId, failure.message);
  return failure;
}

/** Marks the group removed when the validated log no longer lists this device. */
export async function noteRemoval(ctx: Ctx, groupId: GroupId, state: GroupState, me: GroupState['creator']): Promise<boolean> {
  if (isMemberDevice(state, me)) return false;
  const row = await groupRowOf(ctx.db, groupId);
  if (row && !row.removed) {
    await updateGroupRow(ctx.db, groupId, { removed: true });
    await forgetKeyWait(ctx, groupId);
    ctx.counts.delete(groupId);
    ctx.changed(groupId);
  }
  return true;
}

/** The group as fresh as the storage API allows; offline, this device's own copy. */
export async function connectedOrOffline(ctx: Ctx, groupId: GroupId): Promise<{ connection: Connection | null; state: GroupState }> {
  try {
    const connection = await ctx.connections.get();
    return { connection, state: await syncGroup(ctx, connection, groupId) };
  } catch (error) {
    if (error instanceof BackgroundError || !isNetworkError(error)) throw error;
    return { connection: null, state: (await groupRow(ctx, groupId)).state };
  }
}
