/**
 * Reads what a person pastes into "Join with an invite": a bare invite code
 * (`INV1-XXXX-…`, any case, spaces or dashes), the invite link the background makes
 * (`conclave:join/<code>?from=<name>`, possibly inside a longer message) or any other
 * link carrying a code. Only finds and tidies it; the background checks the code fully
 * (its check character, its group) and names any typo.
 */

export type InviteInput =
  | {
      ok: true;
      code: string;
      /** What to send as `group.join`'s `code`: the Conclave link when there is one (it names the inviter), else the code. */
      send: string;
    }
  | { ok: false; message: string; action: string };

/** The background's link form (@conclave/shared/client invite-link.ts). */
const CONCLAVE_LINK = /conclave:join\/[^\s]+/i;

const INVITE_PREFIX = 'INV1';
const RECOVERY_PREFIX = 'REC1';
/** Crockford base32 plus the look-alikes the background forgives (O, I, L), spaces and dashes. */
const CODE_CHARS = /[0-9A-Za-z\s-]/;
/**
 * Characters after the prefix: base32 of group id (16 bytes) and secret (16 bytes),
 * then one check character (shared/src/crypto/secret-code.ts).
 */
export const INVITE_BODY_CHARS = 53;

/** Decodes percent-escapes when the text is a link; leaves anything else alone. */
function decodeLink(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** The run of code characters that starts at `start`, without trailing separators. */
function codeFrom(text: string, start: number): string {
  let end = start;
  while (end < text.length && CODE_CHARS.test(text[end]!)) end++;
  return text.slice(start, end).replace(/[\s-]+$/, '');
}

/** Groups a compact code in fours after its prefix: `INV1-ABCD-EFGH-…`. */
export function formatCode(compact: string): string {
  const upper = compact.toUpperCase().replace(/[\s-]/g, '');
  const prefix = upper.slice(0, 4);
  const body = upper.slice(4).match(/.{1,4}/g) ?? [];
  return [prefix, ...body].join('-');
}

export function parseInviteInput(raw: string): InviteInput {
  const text = decodeLink(raw.trim());
  if (!text) return { ok: false, message: 'Nothing to join yet.', action: 'Paste the invite link or code you were given, or choose a picture of its QR code.' };
  const upper = text.toUpperCase();
  const at = upper.search(/INV1(?=[\s-]*[0-9A-Z])/);
  if (at < 0) {
    if (upper.includes(RECOVERY_PREFIX)) {
      return {
        ok: false,
        message: 'This is a recovery code, not an invite.',
        action: 'Go back and choose "Restore a group with a recovery code" instead.',
      };
    }
    return {
      ok: false,
      message: 'This does not look like a Conclave invite: an invite code starts with INV1-.',
      action: 'Check that you pasted the whole link or code, or ask the person who invited you to send it again.',
    };
  }
  // Words typed after the code ("INV1-… see you soon") are not part of it.
  const compact = codeFrom(text, at)
    .replace(/[\s-]/g, '')
    .slice(0, INVITE_PREFIX.length + INVITE_BODY_CHARS);
  if (compact.length < INVITE_PREFIX.length + INVITE_BODY_CHARS) {
    const has = compact.length - INVITE_PREFIX.length;
    return {
      ok: false,
      message: `This invite code is too short: it has ${has} characters after INV1, a whole code has ${INVITE_BODY_CHARS}.`,
      action: 'Copy the whole link or code again and paste it here.',
    };
  }
  const code = formatCode(compact);
  // Looked for in the text as pasted: decoding would split a name like "Ana%20B".
  const link = raw.match(CONCLAVE_LINK)?.[0];
  return { ok: true, code, send: link ? `conclave:join/${code}${linkQuery(link)}` : code };
}

/** The `?from=…` part of a Conclave link, as a clean query. */
function linkQuery(link: string): string {
  const at = link.indexOf('?');
  if (at < 0) return '';
  const from = new URLSearchParams(link.slice(at + 1)).get('from');
  return from ? `?from=${encodeURIComponent(from)}` : '';
}
