/**
 * The pages' unfinished flows (form contents, steps, half-written notes, invites being
 * shown), kept so closing a page loses nothing — sealed under the device key
 * (db/at-rest.ts), so no draft is in clear in the profile's files. A draft holding a
 * recovery code is refused (Restore's input is never kept), and leaving a group
 * deletes every draft about it.
 */
import type { GroupId } from '@conclave/shared/protocol';
import { isSealedDraft, openDraft, sealDraft } from '../db/at-rest.ts';
import type { DraftRow } from '../db/schema.ts';
import type { Ctx } from './context.ts';
import { fail } from './errors.ts';
import { holdsRecoveryCode } from './recovery-codes.ts';

export async function saveDraft(ctx: Ctx, key: string, value: unknown): Promise<void> {
  if (holdsRecoveryCode(value)) {
    fail('invalid-request', 'A recovery code is never kept on this device, not even in an unfinished form.', 'Type it again when you use it.');
  }
  await ctx.db.drafts.put({ key, value: await sealDraft(ctx.db, key, value), at: ctx.now() });
}

/** The draft's value, opened; null when there is none or it cannot be opened (it is then forgotten). */
export async function loadDraft(ctx: Ctx, key: string): Promise<unknown> {
  const row = await ctx.db.drafts.get(key);
  return row ? valueOf(ctx, row) : null;
}

async function valueOf(ctx: Ctx, row: DraftRow): Promise<unknown> {
  // Rows the background writes for itself (scanned QR secrets) are not page drafts.
  if (!isSealedDraft(row.value)) return row.value ?? null;
  try {
    return await openDraft(ctx.db, row.key, row.value);
  } catch {
    await ctx.db.drafts.delete(row.key);
    return null;
  }
}

/** Stores a row as it is (the background's own rows: a scanned QR secret, unsealed, never a page's draft). */
export async function putDraftRow(ctx: Pick<Ctx, 'db'>, row: DraftRow): Promise<void> {
  await ctx.db.drafts.put(row);
}

/** Every row whose name starts with `prefix`, as stored. */
export function draftsStartingWith(ctx: Pick<Ctx, 'db'>, prefix: string): Promise<DraftRow[]> {
  return ctx.db.drafts.where('key').startsWith(prefix).toArray();
}

export async function deleteDraft(ctx: Pick<Ctx, 'db'>, key: string): Promise<void> {
  await ctx.db.drafts.delete(key);
}

/** Forgets drafts by name, and every row whose name starts with `prefix` (inside the caller's transaction when there is one). */
export async function deleteDrafts(ctx: Pick<Ctx, 'db'>, keys: string[], prefix: string): Promise<void> {
  await ctx.db.drafts.where('key').startsWith(prefix).delete();
  await ctx.db.drafts.bulkDelete(keys);
}

/** The names of every draft about this group: its id in the draft's name (note, invite, panel drafts) or in what it holds (a route, a selection). */
export async function draftsOfGroup(ctx: Ctx, groupId: GroupId): Promise<string[]> {
  const keys: string[] = [];
  for (const row of await ctx.db.drafts.toArray()) {
    if (row.key.includes(groupId)) keys.push(row.key);
    else if ((JSON.stringify(await valueOf(ctx, row)) ?? '').includes(groupId)) keys.push(row.key);
  }
  return keys;
}
