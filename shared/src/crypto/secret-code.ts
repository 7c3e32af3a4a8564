/**
 * Codes a person can type, read aloud or put in a QR code: invite codes and
 * recovery codes. A code is a prefix, then Crockford base32 (no I, L, O, U; case and
 * dashes ignored) of group id ‖ 128-bit secret, then one Luhn mod 32 check character,
 * in groups of four. The check character catches every single mistyped character and
 * most swaps of two neighbours, so a typo is named as a typo, not as an unknown invite.
 * The group id inside binds the secret to one group: a server cannot offer the same
 * secret for a group of its own making.
 */
import { base32crockford } from '@scure/base';
import { concatBytes, fromBase64url, toBase64url, type Bytes } from '../protocol/encoding.ts';
import { GROUP_ID_BYTES, type GroupId } from '../protocol/ids.ts';
import { EncodingError } from './errors.ts';
import { randomBytes } from './primitives.ts';

export const CODE_SECRET_BYTES = 16;
const PAYLOAD_BYTES = GROUP_ID_BYTES + CODE_SECRET_BYTES;
/** Characters of the base32 payload (256 bits, 4 zero padding bits), then one check character. */
const PAYLOAD_CHARS = Math.ceil((PAYLOAD_BYTES * 8) / 5);
const CODE_CHARS = PAYLOAD_CHARS + 1;
/** Crockford's base32 alphabet, the characters every typed code is written in. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ALPHABET = CODE_ALPHABET;

export type CodeKind = 'invite' | 'recovery';
const PREFIX: Record<CodeKind, string> = { invite: 'INV1', recovery: 'REC1' };
/** "an invite code", "a recovery code": the words a message uses for each kind. */
const A_CODE: Record<CodeKind, string> = { invite: 'an invite code', recovery: 'a recovery code' };

export interface SecretCode {
  groupId: GroupId;
  secret: Bytes;
}

/** Luhn mod N (N = 32) over the payload characters: the sum that the check character completes. */
export function luhnSum(chars: string, startFactor: 1 | 2): number {
  let factor = startFactor;
  let sum = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const addend = factor * ALPHABET.indexOf(chars[i]!);
    sum += Math.floor(addend / 32) + (addend % 32);
    factor = factor === 2 ? 1 : 2;
  }
  return sum % 32;
}

/** The Luhn mod 32 check character that completes `payload`. */
export function checkCharacter(payload: string): string {
  return ALPHABET[(32 - luhnSum(payload, 2)) % 32]!;
}

export function newSecret(): Bytes {
  return randomBytes(CODE_SECRET_BYTES);
}

export function encodeSecretCode(kind: CodeKind, code: SecretCode): string {
  if (code.secret.length !== CODE_SECRET_BYTES) throw new EncodingError('a code secret must be 16 bytes');
  const payload = base32crockford.encode(concatBytes(fromBase64url(code.groupId, GROUP_ID_BYTES), code.secret));
  return [PREFIX[kind], ...(payload + checkCharacter(payload)).match(/.{1,4}/g)!].join('-');
}

/**
 * Reads a typed, pasted or scanned code. Spaces, dashes, case and the look-alike
 * letters O, I and L are forgiven; the message says what is wrong and what to do.
 * @throws {EncodingError}
 */
export function parseSecretCode(kind: CodeKind, input: string): SecretCode {
  const compact = input.trim().toUpperCase().replace(/[\s-]/g, '');
  const prefix = PREFIX[kind];
  const other = PREFIX[kind === 'invite' ? 'recovery' : 'invite'];
  if (compact.startsWith(other)) {
    throw new EncodingError(kind === 'invite' ? 'this is a recovery code, not an invite code' : 'this is an invite code, not a recovery code');
  }
  if (!compact.startsWith(prefix)) throw new EncodingError(`${A_CODE[kind]} starts with ${prefix}-`);
  const body = compact.slice(prefix.length).replace(/O/g, '0').replace(/[IL]/g, '1');
  const stray = body.match(/[^0-9A-HJKMNP-TV-Z]/);
  if (stray) throw new EncodingError(`"${stray[0]}" cannot be in ${A_CODE[kind]}: check it and type it again`);
  if (body.length !== CODE_CHARS) {
    throw new EncodingError(
      `this ${kind} code is too short or too long: it has ${body.length} characters after ${prefix}, a code has ${CODE_CHARS}. Check it and type it again`,
    );
  }
  if (luhnSum(body, 1) !== 0) throw new EncodingError(`this ${kind} code has a typo: check it and type it again`);
  let raw: Uint8Array;
  try {
    raw = base32crockford.decode(body.slice(0, PAYLOAD_CHARS));
  } catch {
    // Only reachable with two or more typos that cancel out in the check character.
    throw new EncodingError(`this ${kind} code has a typo: check it and type it again`);
  }
  return {
    groupId: toBase64url(raw.subarray(0, GROUP_ID_BYTES)) as GroupId,
    secret: new Uint8Array(raw.subarray(GROUP_ID_BYTES)),
  };
}
