/**
 * Where an invite this device made stands (issue 14, friction 6): still open, or already
 * used (by whom), expired or cancelled — read from the group's validated log, where an
 * invite and the `add` that accepted it are both signed entries. The popup's invite
 * screen, kept as a draft until "Done", asks it each time it shows, so it never offers a
 * used invite as if it still worked once.
 */
import { inviteKeysFromCode } from '@conclave/shared/crypto';
import type { Answers } from '../messages/answers.ts';
import type { Request } from '../messages/protocol.ts';
import type { Ctx } from './context.ts';
import { connectedOrOffline } from './group-state.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/** @throws {ConclaveError} `INVITE_INVALID`/`ENCODING` when the code is not an invite code. */
export async function inviteState(ctx: Ctx, request: Req<'group.inviteState'>): Promise<Answers['group.inviteState']> {
  const keys = await inviteKeysFromCode(request.code);
  const { state } = await connectedOrOffline(ctx, request.groupId);
  const invite = keys.groupId === request.groupId ? state.invites.get(keys.inviteId) : undefined;
  if (!invite) return { state: 'open', usedBy: null };
  if (invite.usedBy) return { state: 'used', usedBy: ctx.trust.labelledIn(state, invite.usedBy) };
  if (invite.revokedAt !== undefined) return { state: 'revoked', usedBy: null };
  if (invite.expiresAt < ctx.now()) return { state: 'expired', usedBy: null };
  return { state: 'open', usedBy: null };
}
