/**
 * How a note's author is named, for every note request (list, read, header, history,
 * export): a note is signed by a device, named by the person it speaks (or spoke) for —
 * this person's own name for their own devices, else the name that person published.
 */
import type { GroupState } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { IdentityRow } from '../db/schema.ts';
import type { TrustView } from '../messages/views.ts';
import type { Ctx } from './context.ts';
import { isMine, personFor } from './people.ts';

/** The author's real name, or null while the person has published none (an export writes no placeholder as a name). */
export function knownAuthorName(ctx: Ctx, state: GroupState, me: IdentityRow, author: Fingerprint): string | null {
  return isMine(state, author, me.identity.fingerprint) ? me.displayName : ctx.trust.name(personFor(state, author));
}

/**
 * Names and trust of authors, each looked up once however many notes they wrote. The
 * name is `knownAuthorName`, else the label the pages show for someone not named yet.
 */
export function authorsOf(ctx: Ctx, state: GroupState, me: IdentityRow): (author: Fingerprint) => { authorName: string; authorTrust: TrustView } {
  const seen = new Map<Fingerprint, { authorName: string; authorTrust: TrustView }>();
  return (author) => {
    let known = seen.get(author);
    if (!known) {
      known = { authorName: knownAuthorName(ctx, state, me, author) ?? ctx.trust.nameIn(state, author), authorTrust: ctx.trust.view(state, author, me.identity.fingerprint) };
      seen.set(author, known);
    }
    return known;
  };
}
