/**
 * The public `keyWaits` table: per group waiting for its key, the state of the last
 * round (key-wait.ts) and the members who could hand the key over — without names.
 * The one owner of the table.
 */
import type { GroupId } from '@conclave/shared/protocol';
import type { KeyWaitRow } from '../db/schema.ts';
import type { Ctx } from './context.ts';

export function keyWaitOf(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<KeyWaitRow | undefined> {
  return ctx.db.keyWaits.get(groupId);
}

export async function keepKeyWait(ctx: Pick<Ctx, 'db'>, row: KeyWaitRow): Promise<void> {
  await ctx.db.keyWaits.put(row);
}

export async function forgetKeyWait(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<void> {
  await ctx.db.keyWaits.delete(groupId);
}
