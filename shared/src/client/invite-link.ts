/**
 * The text an inviter passes on: `conclave:join/<invite code>?from=<inviter's name>`.
 * It never goes to a server, so it may carry the inviter's name: the joiner can say
 * "waiting for Ana…" before it can read anyone's encrypted profile. The join request
 * accepts the link or the bare code.
 */
export const INVITE_LINK_PREFIX = 'conclave:join/';

export function inviteLink(code: string, inviterName: string | null): string {
  return `${INVITE_LINK_PREFIX}${code}${inviterName ? `?from=${readableQueryValue(inviterName)}` : ''}`;
}

/**
 * A name as a query value a person can read in the link ("Ana+Pérez", not "Ana%20P%C3%A9rez"):
 * spaces become "+", letters stay as they are, and only what would end or change the
 * link or its query (other white space, "%", "&", "+", "#", "=", "?", controls) is escaped.
 * `URLSearchParams` (parseInviteText) reads it back exactly.
 */
function readableQueryValue(text: string): string {
  return text.replace(/[\s%&+#=?\p{Cc}]/gu, (c) => (c === ' ' ? '+' : encodeURIComponent(c)));
}

export interface ParsedInvite {
  code: string;
  /** The inviter's name as the link gives it (a hint, replaced by their profile once read). */
  inviterName: string | null;
}

export function parseInviteText(text: string): ParsedInvite {
  const trimmed = text.trim();
  if (!trimmed.toLowerCase().startsWith(INVITE_LINK_PREFIX)) return { code: trimmed, inviterName: null };
  const rest = trimmed.slice(INVITE_LINK_PREFIX.length);
  const query = rest.indexOf('?');
  const code = decodeSafely(query === -1 ? rest : rest.slice(0, query));
  let inviterName: string | null = null;
  if (query !== -1) {
    const from = new URLSearchParams(rest.slice(query + 1)).get('from')?.trim();
    if (from) inviterName = from.slice(0, 80);
  }
  return { code, inviterName };
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
