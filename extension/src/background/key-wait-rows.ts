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

/**
 * Puts `previous` back (or forgets the wait, when there was none) only if the row is
 * still `mine` — what the caller wrote — so a newer row another round wrote meanwhile
 * is never replaced by an older copy. In one transaction.
 * @returns whether the row was put back.
 */
export function restoreKeyWait(ctx: Pick<Ctx, 'db'>, mine: KeyWaitRow, previous: KeyWaitRow | undefined): Promise<boolean> {
  return ctx.db.transaction('rw', ctx.db.keyWaits, async () => {
    const now = await ctx.db.keyWaits.get(mine.groupId);
    if (!now || JSON.stringify(now) !== JSON.stringify(mine)) return false;
    if (previous) await ctx.db.keyWaits.put(previous);
    else await ctx.db.keyWaits.delete(mine.groupId);
    return true;
  });
}
