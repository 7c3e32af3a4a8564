/**
 * Group requests: create, invite, join, restore, look at, rename, hand the key over,
 * change roles, remove, leave. Each syncs first (a forked log stops it with an alarm)
 * and says in words why it cannot go on.
 */
import { currentGeneration, isAdmin, people, type GroupState } from '@conclave/shared/crypto';
import { shortFingerprint } from '@conclave/shared/crypto';
import { inviteKeysFromCode } from '@conclave/shared/crypto';
import { recoveryIdentityFromCode } from '@conclave/shared/crypto';
import { handoverRefusal, inviteLink, parseInviteText, type HandoverResult, type HandoverSkip } from '@conclave/shared/client';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { deleteGroupRow, groupRowOf, updateGroupRow } from '../db/key-store.ts';
import type { GroupRow } from '../db/schema.ts';
import type { Request } from '../messages/protocol.ts';
import type { GroupDetailView, MemberView } from '../messages/views.ts';
import type { Answers, HandOverAnswer } from '../messages/answers.ts';
import { requireIdentity, type Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { BackgroundError, fail, isNetworkError } from './errors.ts';
import { assertUsable, connectedOrOffline, groupRow, holdsCurrentKey, quoted, stateWhere, viaClient } from './group-state.ts';
import { SCANNED_QR_PREFIX, type KeyWaits } from './key-wait.ts';
import { ensureProfile, writeGroupName } from './names.ts';
import { deleteDrafts, draftsOfGroup } from './drafts.ts';
import { keyHealthOf, keyHealthView } from './key-care.ts';
import { forgetKeyWait } from './key-wait-rows.ts';
import { forgetNotesOf } from './note-rows.ts';
import { forgetPendingCode, keepPendingCode, pendingCodeOf } from './recovery-codes.ts';
import { forgetShownQrOf } from './shown-qr.ts';
import { summaryOf } from './summaries.ts';
import { devicesOfPerson, isMemberDevice, isPerson, myPerson, personFor } from './people.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

export const RECOVERY_NAME = 'Recovery code';

function requireAdmin(row: Pick<GroupRow, 'name'>, state: GroupState, me: Fingerprint, doing: string): void {
  if (!isAdmin(state, me)) fail('not-admin', `Only an admin of ${quoted(row.name)} can ${doing}.`, 'Ask one of its admins.');
}

function requireMember(state: GroupState, person: Fingerprint, name: string | null): void {
  if (!isPerson(state, person)) {
    fail('invalid-request', `${name ?? 'This person'} is not a member of the group (any more).`, 'Sync the group and look at its members again.');
  }
}


export async function createGroup(ctx: Ctx, request: Req<'group.create'>): Promise<Answers['group.create']> {
  const connection = await ctx.connections.get();
  const { groupId, recoveryCode } = await connection.client.createGroup({ policy: request.policy });
  // Kept first (sealed): whatever fails next, the code can still be shown until it is saved.
  await keepPendingCode(ctx, groupId, recoveryCode, false);
  await updateGroupRow(ctx.db, groupId, { name: request.name });
  try {
    await writeGroupName(ctx, connection, groupId, request.name);
    await ensureProfile(ctx, connection, groupId);
  } catch (error) {
    // The group exists; its name and the profile are published again by the next tick.
    console.warn('conclave: publishing the new group name failed', (error as Error).name);
  }
  ctx.changed(groupId);
  return { groupId, recoveryCode };
}

export async function invite(ctx: Ctx, request: Req<'group.invite'>): Promise<Answers['group.invite']> {
  assertUsable(await groupRow(ctx, request.groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  // Checked on this device's copy (synced only when that copy refuses): the SDK call syncs.
  const { state, row } = await stateWhere(ctx, connection, request.groupId, (s, r) => isAdmin(s, me) && (!request.prekeyed || holdsCurrentKey(r)));
  requireAdmin(row, state, me, 'invite people');
  if (request.prekeyed && !holdsCurrentKey(row)) {
    fail('no-key', 'A link that gives the key at once needs the group key on this device, and it has not arrived yet.', 'Make an ordinary invite, or wait for the key.');
  }
  const code = await viaClient(ctx, connection, request.groupId, () => connection.client.invite(request.groupId, { role: request.role, expiresInMs: request.expiresInMs, prekeyed: request.prekeyed }));
  const identity = await requireIdentity(ctx.db);
  return { code, link: inviteLink(code, identity.displayName), expiresAt: ctx.now() + request.expiresInMs };
}

export async function join(ctx: Ctx, waits: KeyWaits, request: Req<'group.join'>): Promise<Answers['group.join']> {
  const { code, inviterName } = parseInviteText(request.code);
  const keys = await inviteKeysFromCode(code);
  const connection = await ctx.connections.get();
  const joined = await connection.client.join(code);
  const { groupId } = joined;
  // A device removed earlier and invited again is a member again.
  await updateGroupRow(ctx.db, groupId, { removed: false });
  const state = await connection.client.state(groupId);
  // The name in the link is the inviting person's (the invite was written by one of their devices).
  const inviter = state.invites.get(keys.inviteId)?.person;
  if (inviter && inviterName && !ctx.trust.name(inviter)) await ctx.trust.learnName(inviter, inviterName);
  ctx.changed(groupId);
  if (joined.hasKey) {
    await waits.afterKeyArrived(connection, groupId);
    return { groupId, hasKey: true, keyWait: null };
  }
  let keyWait = null;
  try {
    keyWait = await waits.round(connection, groupId);
  } catch (error) {
    if (error instanceof BackgroundError && error.code === 'fork') throw error;
    // The join itself is done and the request waits in the mailbox; the next tick tries again.
    console.warn('conclave: the first key-wait round failed', (error as Error).name);
  }
  const row = await groupRow(ctx, groupId);
  return { groupId, hasKey: holdsCurrentKey(row), keyWait: holdsCurrentKey(row) ? null : keyWait };
}

export async function restore(ctx: Ctx, waits: KeyWaits, request: Req<'group.restore'>): Promise<Answers['group.restore']> {
  const { groupId } = await recoveryIdentityFromCode(request.recoveryCode);
  const connection = await ctx.connections.get();
  const known = await groupRowOf(ctx.db, groupId);
  if (!(known && isMemberDevice(known.state, connection.identity.fingerprint) && !known.removed)) {
    await connection.client.restore(request.recoveryCode);
    await updateGroupRow(ctx.db, groupId, { removed: false });
  }
  await waits.afterKeyArrived(connection, groupId);
  // The page says "back on this device" only to a device that had the group before.
  return { groupId, returning: known !== undefined };
}

export async function detail(ctx: Ctx, request: Req<'group.detail'>): Promise<GroupDetailView> {
  const identity = await requireIdentity(ctx.db);
  const me = identity.identity.fingerprint;
  const { connection, state } = await connectedOrOffline(ctx, request.groupId);
  const row = await groupRow(ctx, request.groupId);
  const mine = myPerson(state, me);
  // Presence is per device (the signaling server knows devices); a person is online when one of theirs is.
  const otherDevices = [...state.devices.keys()].filter((d) => d !== me && state.devices.get(d)?.person !== state.recovery);
  const known = ctx.counts.get(request.groupId)?.pending ?? [];
  // Presence (the signaling server), the mailbox and the key chain are asked at once.
  const [onlineIds, waitingIds, health] = await Promise.all([
    ctx.transport.online(otherDevices).catch(() => [] as Fingerprint[]),
    connection && isAdmin(state, me) && !row.removed ? connection.client.pendingRequests(request.groupId).catch(() => known) : known,
    // Key health is this device's own reading of the chain: never a reason for the detail to fail.
    connection ? keyHealthOf(connection.client, request.groupId).catch(() => null) : null,
  ]);
  // Both answers name devices: each counts for the person it speaks for.
  const online = new Set(onlineIds.map((d) => personFor(state, d)));
  const waiting = new Set(waitingIds.map((d) => personFor(state, d)));
  // The people a recovery code added (a restore), with when: every member sees it, not only admins.
  const restored = new Map((state.recoveryUses ?? []).map((use) => [personFor(state, use.device), use.at] as const));
  const generation = currentGeneration(state);
  const members: MemberView[] = [...state.members.values()].map((m) => {
    const isMe = m.fingerprint === mine;
    const isRecovery = m.fingerprint === state.recovery;
    // Whom a hand-over would skip, by the rule the SDK applies to it (not a copy here or in the page).
    const skip = isMe || isRecovery ? null : handoverRefusal(state, m.fingerprint, ctx.trust.trustOf(m.fingerprint), generation);
    return {
      fingerprint: m.fingerprint,
      short: shortFingerprint(m.fingerprint),
      name: isMe ? identity.displayName : isRecovery ? RECOVERY_NAME : ctx.trust.displayName(m.fingerprint),
      role: m.role,
      trust: ctx.trust.view(state, m.fingerprint, me),
      online: isMe || online.has(m.fingerprint),
      isMe,
      isRecovery,
      waitingForKey: waiting.has(m.fingerprint),
      devices: isRecovery ? 1 : Math.max(1, devicesOfPerson(state, m.fingerprint).length),
      ...(restored.has(m.fingerprint) ? { addedByRecovery: restored.get(m.fingerprint)! } : {}),
      // Their profile has not reached this device yet: the page says so beside the fingerprint.
      ...(!isMe && !isRecovery && ctx.trust.name(m.fingerprint) === null ? { nameUnknown: true as const } : {}),
      ...(skip ? { handoverSkip: skip } : {}),
    };
  });
  const rank = (m: MemberView) => (m.isMe ? 0 : m.isRecovery ? 3 : m.role === 'admin' ? 1 : 2);
  members.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  const departed = [...state.departed.values()]
    .filter((d) => d.how !== 'replaced')
    .map((d) => ({ fingerprint: d.fingerprint, name: d.fingerprint === mine || d.fingerprint === me ? identity.displayName : ctx.trust.displayName(d.fingerprint), how: d.how as 'removed' | 'left' }));
  return { ...(await summaryOf(ctx, row, me)), policy: state.policy, members, departed, generation, keyHealth: keyHealthView(ctx, health, me, state) };
}

export async function rename(ctx: Ctx, request: Req<'group.rename'>): Promise<Answers['group.rename']> {
  assertUsable(await groupRow(ctx, request.groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const { state, row } = await stateWhere(ctx, connection, request.groupId, (s, r) => isAdmin(s, me) && holdsCurrentKey(r));
  requireAdmin(row, state, me, 'rename it');
  if (!holdsCurrentKey(row)) fail('no-key', 'The group key has not reached this device yet, so it cannot write the new name.', 'Wait for a member to come online, or ask an admin.');
  await writeGroupName(ctx, connection, request.groupId, request.name);
  ctx.changed(request.groupId);
  return { groupId: request.groupId, name: request.name };
}

const SKIP_WORDS: Record<HandoverSkip, (name: string) => string> = {
  'not-verified': (name) => `${name} gets the key once you have verified them: compare safety numbers with them (the “Verify” button by their name).`,
  'key-changed': (name) => `${name}'s key changed: verify them again before they get the key.`,
  removed: (name) => `${name} was removed from the group.`,
  'not-a-member': (name) => `${name} is not a member of the group by this device's copy of its history.`,
  unreachable: (name) => `The key could not be sealed to ${name}'s device key.`,
  unlinked: (name) => `This device of ${name}'s was removed by ${name}, so it gets no key.`,
};

export async function handOverNow(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<HandOverAnswer> {
  const result = await viaClient(ctx, connection, groupId, () => connection.client.handOverPending(groupId));
  return handedOver(ctx, groupId, result, await connection.client.state(groupId));
}

/**
 * What a handover did (by `handOverPending`, or inside a tick's `refresh`), kept as the
 * group's pending count and put in words. Boxes go to devices; each is named by its person.
 */
export function handedOver(ctx: Ctx, groupId: GroupId, result: HandoverResult, state: GroupState): HandOverAnswer {
  const pending = result.skipped.filter((s) => s.reason !== 'not-a-member').map((s) => s.fingerprint);
  ctx.counts.set(groupId, { unread: ctx.counts.get(groupId)?.unread ?? 0, pending });
  if (result.sent.length > 0) ctx.changed(groupId);
  return {
    sent: result.sent.map((fingerprint) => ({ fingerprint, name: ctx.trust.labelledIn(state, fingerprint) })),
    skipped: result.skipped.map((s) => {
      const name = ctx.trust.labelledIn(state, s.fingerprint);
      return { fingerprint: s.fingerprint, name, reason: s.reason, message: SKIP_WORDS[s.reason](name) };
    }),
  };
}

export async function handOver(ctx: Ctx, request: Req<'group.handOver'>): Promise<HandOverAnswer> {
  assertUsable(await groupRow(ctx, request.groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const { state, row } = await stateWhere(ctx, connection, request.groupId, (s, r) => isAdmin(s, me) && holdsCurrentKey(r));
  requireAdmin(row, state, me, 'hand the key over');
  if (!holdsCurrentKey(row)) fail('no-key', 'This device does not hold the group key either, so it cannot hand it over.', 'Wait until the key reaches this device.');
  return handOverNow(ctx, connection, request.groupId);
}

export async function setRole(ctx: Ctx, request: Req<'group.setRole'>): Promise<Answers['group.setRole']> {
  assertUsable(await groupRow(ctx, request.groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const isMember = (s: GroupState) => isPerson(s, request.fingerprint);
  const { state, row } = await stateWhere(ctx, connection, request.groupId, (s) => isAdmin(s, me) && isMember(s));
  requireAdmin(row, state, me, 'change roles');
  requireMember(state, request.fingerprint, ctx.trust.name(request.fingerprint));
  // One signed `role` entry, built and checked on the log the SDK syncs inside its lock.
  await viaClient(ctx, connection, request.groupId, () => connection.client.setRole(request.groupId, request.fingerprint, request.role), { ownRules: ['last-admin'] });
  ctx.changed(request.groupId);
  return { groupId: request.groupId, fingerprint: request.fingerprint, role: request.role };
}

export async function remove(ctx: Ctx, request: Req<'group.remove'>): Promise<Answers['group.remove']> {
  assertUsable(await groupRow(ctx, request.groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const isMember = (s: GroupState) => isPerson(s, request.fingerprint);
  const { state, row } = await stateWhere(ctx, connection, request.groupId, (s) => isAdmin(s, me) && isMember(s));
  requireAdmin(row, state, me, 'remove members');
  if (request.fingerprint === myPerson(state, me)) fail('invalid-request', 'To take yourself out of the group, leave the group instead.', 'Choose "Leave group". To take one of your devices out, remove it from your device list in the options page.');
  if (request.fingerprint === state.recovery) fail('invalid-request', "The group's recovery code cannot be removed.", 'Keep the recovery code safe instead.');
  requireMember(state, request.fingerprint, ctx.trust.name(request.fingerprint));
  const removed = await viaClient(ctx, connection, request.groupId, () => connection.client.removeMember(request.groupId, request.fingerprint));
  ctx.changed(request.groupId);
  return { generation: removed.generation, unreachable: removed.unreachable.length };
}

/** Forgets everything this device kept about a group, its unfinished drafts (notes, invites) included. */
export async function forgetGroup(ctx: Ctx, groupId: GroupId): Promise<void> {
  // Found before the transaction: opening a sealed draft is WebCrypto work.
  const drafts = await draftsOfGroup(ctx, groupId);
  // One transaction over every table that speaks of the group, each emptied by its owner.
  await ctx.db.transaction('rw', ['groups', 'notes', 'keyWaits', 'pendingRecovery', 'shownQr', 'drafts'], async () => {
    await deleteGroupRow(ctx.db, groupId);
    await forgetNotesOf(ctx, groupId);
    await forgetKeyWait(ctx, groupId);
    await forgetPendingCode(ctx, groupId);
    await forgetShownQrOf(ctx, groupId);
    await deleteDrafts(ctx, drafts, `${SCANNED_QR_PREFIX}${groupId}:`);
  });
  ctx.counts.delete(groupId);
  for (const memo of [...ctx.profilesChecked]) if (memo.includes(groupId)) ctx.profilesChecked.delete(memo);
}

export async function leave(ctx: Ctx, request: Req<'group.leave'>): Promise<Answers['group.leave']> {
  const { groupId } = request;
  const row = await groupRow(ctx, groupId);
  // A group that removed this device, or whose history was forked, is only forgotten here.
  if (row.removed || row.alarm) {
    await forgetGroup(ctx, groupId);
    ctx.changed();
    return { groupId };
  }
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const unsaved = (await pendingCodeOf(ctx, groupId)) !== undefined;
  const others = (s: GroupState) => people(s).filter((m) => m.fingerprint !== myPerson(s, me));
  const mayLeave = (s: GroupState) => !(others(s).length === 0 && unsaved) && !(isAdmin(s, me) && others(s).length > 0 && !others(s).some((m) => m.role === 'admin'));
  // Checked on this device's copy, synced only when that copy refuses (the leave itself syncs).
  const { state, row: fresh } = await stateWhere(ctx, connection, groupId, (s) => mayLeave(s));
  if (fresh.removed) {
    await forgetGroup(ctx, groupId);
    ctx.changed();
    return { groupId };
  }
  if (others(state).length === 0 && unsaved) {
    fail(
      'last-admin',
      `You are the last member of ${quoted(fresh.name)}: once you leave, only its recovery code can open it again, and you have not confirmed saving it.`,
      'Download the recovery kit (or write the recovery code down) and confirm it before leaving.',
    );
  }
  if (isAdmin(state, me) && others(state).length > 0 && !others(state).some((m) => m.role === 'admin')) {
    fail('last-admin', `You are the only admin of ${quoted(fresh.name)}.`, 'Make someone else an admin first, then leave.');
  }
  await viaClient(ctx, connection, groupId, () => connection.client.leave(groupId), { ownRules: ['last-admin'] }).catch((error: unknown) => {
    // Removed meanwhile: there is nothing left to leave, only to forget.
    if (!(error instanceof BackgroundError && error.code === 'removed')) throw error;
  });
  await forgetGroup(ctx, groupId);
  ctx.changed();
  return { groupId };
}
