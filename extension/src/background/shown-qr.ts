/**
 * The QR codes this device shows for verification (DESIGN §3): one one-time secret per
 * group and peer, reused while the code is on screen and replaced after ten minutes.
 * A peer that scanned it echoes the secret in the live handshake; then it is used up.
 */
import { newQrSecret } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { ShownQrRow } from '../db/schema.ts';
import type { Ctx } from './context.ts';

export const SHOWN_QR_TTL_MS = 10 * 60_000;

function rowsFor(ctx: Ctx, groupId: GroupId, peer: Fingerprint) {
  return ctx.db.shownQr.where('[groupId+peer]').equals([groupId, peer]);
}

/** The code shown to `peer` in this group, if one is still fresh. */
export async function activeShownQr(ctx: Ctx, groupId: GroupId, peer: Fingerprint): Promise<ShownQrRow | undefined> {
  const row = await rowsFor(ctx, groupId, peer).first();
  return row && ctx.now() - row.at <= SHOWN_QR_TTL_MS ? row : undefined;
}

/** The secret to put in the code shown to `peer`: the fresh one, or a new one. */
export async function shownQrSecret(ctx: Ctx, groupId: GroupId, peer: Fingerprint): Promise<string> {
  const active = await activeShownQr(ctx, groupId, peer);
  if (active) return active.secret;
  const row: ShownQrRow = { groupId, peer, secret: newQrSecret(), at: ctx.now() };
  await ctx.db.shownQr.put(row);
  return row.secret;
}

/** Forgets every code shown in a group (inside the caller's transaction when there is one). */
export async function forgetShownQrOf(ctx: Pick<Ctx, 'db'>, groupId: GroupId): Promise<void> {
  await ctx.db.shownQr.where('groupId').equals(groupId).delete();
}

export async function useUpShownQr(ctx: Ctx, groupId: GroupId, peer: Fingerprint): Promise<void> {
  await rowsFor(ctx, groupId, peer).delete();
}
