/**
 * What the popup shows at a glance, read from this device's database and the counts
 * the last tick left in memory — no network, so the popup opens at once, offline too.
 */
import { memberOfDevice, shortFingerprint } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import { loadIdentity } from '../db/identity.ts';
import { allGroupRows } from '../db/key-store.ts';
import type { GroupRow, IdentityRow } from '../db/schema.ts';
import type { GroupSummary, IdentityView, StatusView } from '../messages/views.ts';
import type { Ctx } from './context.ts';
import { groupAlarm, holdsCurrentKey, peerAlarmView } from './group-state.ts';
import { keyWaitOf } from './key-wait-rows.ts';
import { namedKeyWait } from './key-wait-view.ts';
import { pendingCodeOf, unreplacedRecoveryUse } from './recovery-codes.ts';
import { loadSettings } from './settings.ts';

export function identityView(row: IdentityRow): IdentityView {
  return { fingerprint: row.identity.fingerprint, short: shortFingerprint(row.identity.fingerprint), displayName: row.displayName };
}

export async function summaryOf(ctx: Ctx, row: GroupRow, me: Fingerprint | null): Promise<GroupSummary> {
  const [recovery, wait] = await Promise.all([pendingCodeOf(ctx, row.groupId), keyWaitOf(ctx, row.groupId)]);
  const role = me ? (memberOfDevice(row.state, me)?.role ?? null) : null;
  const counts = ctx.counts.get(row.groupId);
  return {
    groupId: row.groupId,
    name: row.name,
    role,
    hasKey: holdsCurrentKey(row),
    unread: row.removed ? 0 : (counts?.unread ?? 0),
    pending: role === 'admin' && !row.removed ? (counts?.pending.length ?? 0) : 0,
    alarm: groupAlarm(ctx, row),
    peerAlarm: peerAlarmView(ctx, row, me),
    recoveryUnconfirmed: recovery !== undefined,
    keyWait: namedKeyWait(ctx, wait, row.state),
    removed: row.removed,
    ...(row.removed && me && row.state.departedDevices.get(me)?.how === 'unlinked' ? { deviceUnlinked: true } : {}),
    recoveryUsed: row.removed ? null : unreplacedRecoveryUse(ctx, row.state, me),
    policy: row.state.policy,
  };
}

export async function statusView(ctx: Ctx): Promise<StatusView> {
  const [identity, rows, settings] = await Promise.all([loadIdentity(ctx.db), allGroupRows(ctx.db), loadSettings(ctx.db)]);
  const me = identity?.identity.fingerprint ?? null;
  const groups = await Promise.all(rows.map((row) => summaryOf(ctx, row, me)));
  groups.sort((a, b) => (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.groupId.localeCompare(b.groupId));
  return { identity: identity ? identityView(identity) : null, groups, settings };
}

/**
 * The toolbar badge: "!" while any group has an alarm, else the number of unread notes
 * plus, on an admin's device, the members waiting for the key from it (so a key request
 * shows as it arrives).
 */
export async function updateBadge(ctx: Ctx): Promise<void> {
  const rows = await allGroupRows(ctx.db);
  if (rows.some((r) => groupAlarm(ctx, r))) return ctx.badge('!');
  const count = rows
    .filter((r) => !r.removed)
    .reduce((sum, r) => {
      const counts = ctx.counts.get(r.groupId);
      return sum + (counts?.unread ?? 0) + (counts?.pending.length ?? 0);
    }, 0);
  ctx.badge(count === 0 ? '' : count > 99 ? '99+' : String(count));
}
