/**
 * Branded identifiers and fixed-length byte fields as they travel on the wire.
 * Bytes are base64url without padding, checked for exact length and canonical form.
 */
import { z } from 'zod';
import { base64urlByteLength, isCanonicalBase64url } from './encoding.ts';

/** Text length of `n` bytes in unpadded base64url. */
export function base64urlLength(n: number): number {
  return Math.ceil((n * 4) / 3);
}

/** A base64url string that decodes to exactly `n` bytes (and is canonical). */
export function b64uBytes(n: number) {
  return z
    .string()
    .length(base64urlLength(n), `must be ${n} bytes as base64url`)
    .refine((s) => isCanonicalBase64url(s), `must be ${n} bytes as canonical base64url`);
}

/** A base64url string of between `min` and `max` bytes. */
export function b64uVar(min: number, max: number) {
  return z
    .string()
    .max(base64urlLength(max), `must be at most ${max} bytes`)
    .refine((s) => {
      if (!isCanonicalBase64url(s)) return false;
      const n = base64urlByteLength(s);
      return n >= min && n <= max;
    }, `must be ${min}–${max} bytes as canonical base64url`);
}

/** SHA-256 fingerprint of a device's public bundle, lower-case base32 (52 chars); also its peer id. */
export const fingerprintSchema = z.string().regex(/^[a-z2-7]{52}$/, 'must be a 52-character base32 fingerprint').brand<'Fingerprint'>();
export type Fingerprint = z.infer<typeof fingerprintSchema>;

export const GROUP_ID_BYTES = 16;
/** A group id: the first 16 bytes of SHA-256 over its creator's bundle and a random nonce (see `deriveGroupId`). */
export const groupIdSchema = b64uBytes(GROUP_ID_BYTES).brand<'GroupId'>();
export type GroupId = z.infer<typeof groupIdSchema>;

export const NOTE_ID_BYTES = 16;
export const noteIdSchema = b64uBytes(NOTE_ID_BYTES).brand<'NoteId'>();
export type NoteId = z.infer<typeof noteIdSchema>;

/** An invite's public id: its Ed25519 invite public key. */
export const inviteIdSchema = b64uBytes(32).brand<'InviteId'>();
export type InviteId = z.infer<typeof inviteIdSchema>;

/** Hash of a log entry, base64url of 32 bytes. */
export const entryHashSchema = b64uBytes(32).brand<'EntryHash'>();
export type EntryHash = z.infer<typeof entryHashSchema>;

export const roleSchema = z.enum(['admin', 'member']);
export type Role = z.infer<typeof roleSchema>;

/** Milliseconds since the Unix epoch. */
export const timestampSchema = z.number().int().min(0).max(8.64e15);
export const sequenceSchema = z.number().int().min(0).max(2 ** 31 - 1);
export const generationSchema = z.number().int().min(0).max(2 ** 31 - 1);
