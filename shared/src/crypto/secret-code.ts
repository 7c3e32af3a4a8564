/**
 * Codes a person can type, read aloud or put in a QR code: invite codes and
 * recovery codes. A code is a prefix, then Crockford base32 (no I, L, O, U; case and
 * dashes ignored) of group id ‖ 128-bit secret ‖ one check byte, in groups of four.
 * The group id inside binds the secret to one group: a server cannot offer the same
 * secret for a group of its own making.
 */
import { base32crockford } from '@scure/base';
import { concatBytes, equalBytes, fromBase64url, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import { GROUP_ID_BYTES, type GroupId } from '../protocol/ids.ts';
import { EncodingError } from './errors.ts';
import { randomBytes, sha256Now } from './primitives.ts';

export const CODE_SECRET_BYTES = 16;
const CODE_BYTES = GROUP_ID_BYTES + CODE_SECRET_BYTES + 1;

export type CodeKind = 'invite' | 'recovery';
const PREFIX: Record<CodeKind, string> = { invite: 'INV1', recovery: 'REC1' };

export interface SecretCode {
  groupId: GroupId;
  secret: Bytes;
}

function checkByte(kind: CodeKind, payload: Uint8Array): number {
  return sha256Now(concatBytes(utf8(PREFIX[kind]), payload))[0]!;
}

export function newSecret(): Bytes {
  return randomBytes(CODE_SECRET_BYTES);
}

export function encodeSecretCode(kind: CodeKind, code: SecretCode): string {
  if (code.secret.length !== CODE_SECRET_BYTES) throw new EncodingError('a code secret must be 16 bytes');
  const payload = concatBytes(fromBase64url(code.groupId, GROUP_ID_BYTES), code.secret);
  const text = base32crockford.encode(concatBytes(payload, new Uint8Array([checkByte(kind, payload)])));
  return [PREFIX[kind], ...text.match(/.{1,4}/g)!].join('-');
}

/**
 * Reads a typed, pasted or scanned code. Spaces, dashes, case and the look-alike
 * letters O, I and L are forgiven; a typo is caught by the check byte.
 * @throws {EncodingError} with a message that says what to do.
 */
export function parseSecretCode(kind: CodeKind, input: string): SecretCode {
  const compact = input.trim().toUpperCase().replace(/[\s-]/g, '');
  const prefix = PREFIX[kind];
  const other = PREFIX[kind === 'invite' ? 'recovery' : 'invite'];
  if (compact.startsWith(other)) {
    throw new EncodingError(kind === 'invite' ? 'this is a recovery code, not an invite code' : 'this is an invite code, not a recovery code');
  }
  if (!compact.startsWith(prefix)) throw new EncodingError(`an ${kind} code starts with ${prefix}-`);
  const body = compact.slice(prefix.length).replace(/O/g, '0').replace(/[IL]/g, '1');
  let raw: Uint8Array;
  try {
    raw = base32crockford.decode(body);
  } catch {
    throw new EncodingError(`this ${kind} code has a character that cannot be in a code: check it and type it again`);
  }
  if (raw.length !== CODE_BYTES) throw new EncodingError(`this ${kind} code is too short or too long: check it and type it again`);
  const payload = raw.subarray(0, CODE_BYTES - 1);
  if (!equalBytes(new Uint8Array([checkByte(kind, payload)]), raw.subarray(CODE_BYTES - 1))) {
    throw new EncodingError(`this ${kind} code has a typo: check it and type it again`);
  }
  return {
    groupId: toBase64url(payload.subarray(0, GROUP_ID_BYTES)) as GroupId,
    secret: new Uint8Array(payload.subarray(GROUP_ID_BYTES)),
  };
}
