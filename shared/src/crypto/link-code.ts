/**
 * What a new device shows to be linked to a person (DESIGN §3 "Linking a device"): a
 * 16-byte secret, as a QR payload that also names the new device, or as a typable link
 * code. The secret never reaches the server; from it come
 * - the lookup under which the new device posts its bundle (`links.offer`), so a device
 *   given only the typed code can find it: HKDF-SHA256(secret, info
 *   `conclave/v3/link-lookup`), first 16 bytes;
 * - the proof key both devices MAC the link transcript with (`conclave/v3/link-proof`),
 *   so a server that swapped the bundle behind the lookup cannot complete a link.
 *
 * QR payload: `conclave:v3:link:` ‖ base64url(canonical JSON `{device, secret}`).
 * Link code: `LNK1-` ‖ Crockford base32 of the secret ‖ one Luhn mod 32 check character,
 * in groups of four — the format of invite and recovery codes (secret-code.ts), with no
 * group id in it (a link names no group).
 */
import { base32crockford } from '@scure/base';
import { z } from 'zod';
import { canonicalJson } from '../protocol/canonical.ts';
import { equalBytes, fromBase64url, fromUtf8, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import { b64uBytes, fingerprintSchema, type Fingerprint } from '../protocol/ids.ts';
import { EncodingError } from './errors.ts';
import { LABELS } from './labels.ts';
import { hkdfSha256, randomBytes } from './primitives.ts';
import { checkCharacter, luhnSum } from './secret-code.ts';

export const LINK_SECRET_BYTES = 16;
const CODE_PREFIX = 'LNK1';
/** 128 bits in base32 (2 padding bits), then the check character. */
const PAYLOAD_CHARS = Math.ceil((LINK_SECRET_BYTES * 8) / 5);

/** What a scan or a typed code gives the existing device. */
export interface LinkInput {
  secret: Bytes;
  /** The new device's fingerprint: in the QR payload, absent from a typed code (found by lookup). */
  device?: Fingerprint;
}

const qrSchema = z.strictObject({ device: fingerprintSchema, secret: b64uBytes(LINK_SECRET_BYTES) });

export function newLinkSecret(): Bytes {
  return randomBytes(LINK_SECRET_BYTES);
}

/** The QR payload a new device shows. */
export function linkQrPayload(device: Fingerprint, secret: Uint8Array): string {
  if (secret.length !== LINK_SECRET_BYTES) throw new EncodingError('a link secret must be 16 bytes');
  return LABELS.linkPayload + toBase64url(utf8(canonicalJson({ device, secret: toBase64url(secret) })));
}

/** The link code a new device shows beside its QR code. */
export function encodeLinkCode(secret: Uint8Array): string {
  if (secret.length !== LINK_SECRET_BYTES) throw new EncodingError('a link secret must be 16 bytes');
  const payload = base32crockford.encode(secret);
  const check = checkCharacter(payload);
  return [CODE_PREFIX, ...(payload + check).match(/.{1,4}/g)!].join('-');
}

/**
 * Reads a typed link code (spaces, dashes, case and the look-alikes O, I, L forgiven).
 * @throws {EncodingError} saying what is wrong and what to do.
 */
export function parseLinkCode(input: string): Bytes {
  const compact = input.trim().toUpperCase().replace(/[\s-]/g, '');
  if (compact.startsWith('INV1') || compact.startsWith('REC1')) throw new EncodingError('this is a group code, not a link code: the link code is shown by the new device');
  if (!compact.startsWith(CODE_PREFIX)) throw new EncodingError(`a link code starts with ${CODE_PREFIX}-`);
  const body = compact.slice(CODE_PREFIX.length).replace(/O/g, '0').replace(/[IL]/g, '1');
  const stray = body.match(/[^0-9A-HJKMNP-TV-Z]/);
  if (stray) throw new EncodingError(`"${stray[0]}" cannot be in a link code: check it and type it again`);
  if (body.length !== PAYLOAD_CHARS + 1) {
    throw new EncodingError(`this link code is too short or too long: it has ${body.length} characters after ${CODE_PREFIX}, a code has ${PAYLOAD_CHARS + 1}. Check it and type it again`);
  }
  if (luhnSum(body, 1) !== 0) throw new EncodingError('this link code has a typo: check it and type it again');
  try {
    const raw = base32crockford.decode(body.slice(0, PAYLOAD_CHARS));
    if (raw.length !== LINK_SECRET_BYTES) throw new Error('length');
    return new Uint8Array(raw);
  } catch {
    // Only reachable with typos that cancel out in the check character, or stray padding bits.
    throw new EncodingError('this link code has a typo: check it and type it again');
  }
}

/**
 * Reads what the existing device scanned or was typed: a QR payload or a link code.
 * @throws {EncodingError}
 */
export function parseLinkInput(input: string): LinkInput {
  const text = input.trim();
  if (!text.startsWith(LABELS.linkPayload)) return { secret: parseLinkCode(text) };
  let parsed;
  try {
    parsed = qrSchema.safeParse(JSON.parse(fromUtf8(fromBase64url(text.slice(LABELS.linkPayload.length)))));
  } catch {
    throw new EncodingError('this link QR code cannot be read: scan it again');
  }
  if (!parsed.success) throw new EncodingError('this link QR code cannot be read: scan it again');
  return { secret: fromBase64url(parsed.data.secret, LINK_SECRET_BYTES), device: parsed.data.device };
}

/** Where the new device's bundle is posted and found (`links.offer` / `links.find`). */
export async function linkLookup(secret: Uint8Array): Promise<string> {
  return toBase64url((await hkdfSha256(secret, new Uint8Array(0), utf8(LABELS.linkLookup), 32)).subarray(0, 16));
}

/** The key both devices MAC the link transcript with. */
export function linkProofKey(secret: Uint8Array): Promise<Bytes> {
  return hkdfSha256(secret, new Uint8Array(0), utf8(LABELS.linkProof), 32);
}

export type LinkRole = 'existing' | 'new';

/**
 * One side's MAC over the link transcript: HKDF-Extract keyed with the proof key is
 * HMAC-SHA256(proofKey, transcript); the expand step binds the side that made it.
 */
export async function linkProof(proofKey: Uint8Array, role: LinkRole, transcript: Uint8Array): Promise<string> {
  return toBase64url(await hkdfSha256(transcript, proofKey, utf8(`${LABELS.linkProof}/${role}`), 32));
}

/** Checks a MAC in time independent of where it differs; false for anything malformed. */
export async function linkProofHolds(proofKey: Uint8Array, role: LinkRole, transcript: Uint8Array, proof: string): Promise<boolean> {
  let given: Bytes;
  try {
    given = fromBase64url(proof, 32);
  } catch {
    return false;
  }
  return equalBytes(fromBase64url(await linkProof(proofKey, role, transcript), 32), given);
}
