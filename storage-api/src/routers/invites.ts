/**
 * Invites (DESIGN §6): a joiner who holds an invite code looks the invite up by its id
 * (the invite's public key, derived from the code's secret; the server never sees the
 * secret), gets the whole log to validate and accept, and, for a pre-keyed invite, the
 * key boxes sealed to the invite.
 *
 * The invite id is not a secret: it is in the `invite` entry, which every member reads,
 * and a member keeps what it read after it is removed. So the lookup asks for proof of
 * the code: a signature by the invite key over the group, the invite and the
 * signed-in device (`inviteLookupProof`). A removed member who kept the id, under its
 * own identity or a fresh one, cannot make it; nor can it reuse a proof made for
 * another device. An invite whose author has departed (or stopped being an admin) was
 * revoked by the log at that entry and is closed, even to the holder of its code.
 */
import {
  fromBase64url,
  inviteLookupInput,
  LABELS,
  MAX_ENTRIES_PER_CALL,
  verifyLabelled,
  type Fingerprint,
  type GroupId,
  type GroupState,
  type InviteId,
  type KeyBox,
  type LogEntry,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { authedProcedure, router } from '../trpc/init.ts';

/** Every entry up to `state.seq` (the validated head), page by page. */
async function wholeLog(store: Store, state: GroupState): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  while (entries.length <= state.seq) {
    const page = await store.readLog(state.groupId, entries.length, MAX_ENTRIES_PER_CALL, state.seq);
    if (page.length === 0) break;
    entries.push(...page);
  }
  return entries;
}

/** Whether `proof` is the invite key's signature for this group, invite and device. */
async function provesCode(groupId: GroupId, inviteId: InviteId, device: Fingerprint, proof: string): Promise<boolean> {
  try {
    return await verifyLabelled(fromBase64url(inviteId, 32), proof, LABELS.inviteLookup, { groupId, inviteId, fingerprint: device });
  } catch {
    return false;
  }
}

export const invitesRouter = router({
  /**
   * The group, its whole log and the pre-keyed boxes (every sender's box at the newest
   * generation the invite has any box for, ordered by sender; empty for an invite that
   * is not pre-keyed) of an invite that is open by the server's clock: not used,
   * not cancelled (its author still an admin), not expired. Otherwise INVITE_CLOSED; an
   * unknown id is NOT_FOUND; a `proof` that is not the invite key's signature for this
   * device is SIGNATURE_INVALID (checked before anything about the invite is said).
   */
  lookup: authedProcedure.input(inviteLookupInput).query(async ({ ctx, input }) => {
    const unknown = () => apiError('NOT_FOUND', 'no invite with this id is stored here: check the invite code, or ask for a new invite');
    const groupId = await ctx.store.findInvite(input.inviteId);
    if (!groupId) throw unknown();
    const inviteId = input.inviteId as InviteId;
    if (!(await provesCode(groupId, inviteId, ctx.device, input.proof))) {
      throw apiError('SIGNATURE_INVALID', "the lookup is not signed with this invite's key for this device: look the invite up with its invite code");
    }
    const state = await ctx.groups.stateOf(groupId);
    const invite = state?.invites.get(input.inviteId);
    if (!state || !invite) throw unknown();
    if (invite.usedBy) throw apiError('INVITE_CLOSED', 'this invite has already been used: ask for a new invite');
    if (invite.revokedAt !== undefined) throw apiError('INVITE_CLOSED', 'this invite was cancelled because the admin who made it is no longer an admin: ask for a new invite');
    if (invite.expiresAt < ctx.now()) throw apiError('INVITE_CLOSED', 'this invite has expired: ask for a new invite');
    const recipient: KeyBox['recipient'] = { kind: 'invite', id: inviteId };
    const [entries, boxes] = await Promise.all([wholeLog(ctx.store, state), ctx.store.boxesFor(groupId, recipient)]);
    const newest = boxes.reduce((g, b) => Math.max(g, b.generation), -1);
    return { groupId, entries, boxes: boxes.filter((b) => b.generation === newest) };
  }),
});
