/**
 * Recovery codes on this device: the one shown after creating a group or replacing
 * its code is kept — sealed under the device key, never in clear — only until an admin
 * confirms saving it, so it comes back if the page closes first. Replacing the code,
 * and telling admins when a recovery code added a device and has not been replaced
 * since. A recovery code typed into Restore is never kept: drafts holding one are
 * refused.
 */
import { isAdmin, type GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { openRecoveryCode, sealRecoveryCode } from '../db/at-rest.ts';
import { groupRowOf } from '../db/key-store.ts';
import type { PendingRecoveryRow } from '../db/schema.ts';
import type { Request } from '../messages/protocol.ts';
import type { RecoveryUseView } from '../messages/views.ts';
import type { Answers } from '../messages/answers.ts';
import type { Ctx } from './context.ts';
import { BackgroundError, fail } from './errors.ts';
import { assertUsable, groupRow, quoted, stateWhere, viaClient } from './group-state.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/** A code kept until saved, sealed (the one owner of the `pendingRecovery` table is this module). */
export function pendingCodeOf(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<PendingRecoveryRow | undefined> {
  return ctx.db.pendingRecovery.get(groupId);
}

/** Forgets a kept code (inside the caller's transaction when there is one). */
export async function forgetPendingCode(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<void> {
  await ctx.db.pendingRecovery.delete(groupId);
}

/** Keeps a code just shown, sealed, until `group.confirmRecoverySaved`. */
export async function keepPendingCode(ctx: Ctx, groupId: GroupId, code: string, replaced: boolean): Promise<void> {
  await ctx.db.pendingRecovery.put({ groupId, sealed: await sealRecoveryCode(ctx.db, groupId, code), replaced });
}

export async function confirmRecoverySaved(ctx: Ctx, request: Req<'group.confirmRecoverySaved'>): Promise<Answers['group.confirmRecoverySaved']> {
  await forgetPendingCode(ctx, request.groupId);
  ctx.changed(request.groupId);
  return { groupId: request.groupId };
}

/** Shows the recovery code again while its saving is unconfirmed (a page closed on it). */
export async function pendingRecoveryCode(ctx: Ctx, request: Req<'group.recoveryCode'>): Promise<Answers['group.recoveryCode']> {
  const pending = await pendingCodeOf(ctx, request.groupId);
  if (!pending) {
    throw new BackgroundError(
      'recovery-invalid',
      'This group has no recovery code waiting to be saved: it was confirmed as saved, and it is kept nowhere on this device.',
      'Keep at least two admins in the group, so that losing one device does not lose the group.',
    );
  }
  const row = await groupRowOf(ctx.db, request.groupId);
  const recoveryCode = await openRecoveryCode(ctx.db, request.groupId, pending.sealed);
  return { groupId: request.groupId, name: row?.name ?? null, recoveryCode, replaced: pending.replaced };
}

/**
 * Makes a new recovery code for the group; the old one stops working at once. The new
 * code is kept (sealed) until the admin confirms saving it.
 */
export async function replaceRecovery(ctx: Ctx, request: Req<'group.replaceRecovery'>): Promise<Answers['group.replaceRecovery']> {
  const { groupId } = request;
  assertUsable(await groupRow(ctx, groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const { state, row } = await stateWhere(ctx, connection, groupId, (s) => isAdmin(s, me));
  if (!isAdmin(state, me)) {
    fail('not-admin', `Only an admin of ${quoted(row.name)} can replace its recovery code.`, 'Ask one of its admins.');
  }
  const { recoveryCode, generation } = await viaClient(ctx, connection, groupId, () => connection.client.replaceRecovery(groupId));
  await keepPendingCode(ctx, groupId, recoveryCode, true);
  ctx.changed(groupId);
  return { groupId, name: row.name, recoveryCode, generation };
}

/**
 * The newest time a recovery code added a device, when that code is still the group's
 * (not replaced since) — told to admins only, who can replace it.
 */
export function unreplacedRecoveryUse(ctx: Ctx, state: GroupState, me: Fingerprint | null): RecoveryUseView | null {
  if (!me || !isAdmin(state, me) || !state.recovery) return null;
  const uses = (state.recoveryUses ?? []).filter((use) => use.recoveryKey === state.recovery);
  const last = uses[uses.length - 1];
  if (!last) return null;
  return { at: last.at, device: last.device, deviceName: last.device === me ? 'this device' : ctx.trust.labelledIn(state, last.device), isMe: last.device === me, count: uses.length };
}

/** A whole recovery code, or most of one, anywhere in a draft: never kept at rest. */
export function holdsRecoveryCode(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return /REC1[0-9A-Z]{40,}/.test(value.toUpperCase().replace(/[\s-]/g, ''));
  if (depth > 8 || typeof value !== 'object' || value === null) return false;
  return Object.values(value).some((v) => holdsRecoveryCode(v, depth + 1));
}
