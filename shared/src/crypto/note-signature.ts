/**
 * What a note's author signs (DESIGN §5): the envelope's header with SHA-256 digests of
 * the title and body ciphertexts. Public verification only, so the storage API checks
 * it too before it stores a note (defence in depth; clients check it themselves).
 */
import { labelled } from '../protocol/canonical.ts';
import { concatBytes, fromBase64url, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import type { NoteEnvelope } from '../protocol/schemas.ts';
import { verifyLabelled } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256, sha256NowOfParts } from './primitives.ts';

/** The signed view of an envelope, from its ciphertexts as bytes (hashed once). */
export async function noteSigningView(envelope: Omit<NoteEnvelope, 'sig'>, sealedTitle: Uint8Array, sealedBody: Uint8Array): Promise<Record<string, unknown>> {
  const { title: _title, body: _body, ...header } = envelope;
  const [titleHash, bodyHash] = await Promise.all([sha256(sealedTitle), sha256(sealedBody)]);
  return { ...header, titleHash: toBase64url(titleHash), bodyHash: toBase64url(bodyHash) };
}

/**
 * True when `signKey` signed this envelope. The caller decides whose key that must be
 * (the author's, from the validated log).
 */
export async function verifyNoteSignature(envelope: NoteEnvelope, signKey: Uint8Array): Promise<boolean> {
  const { sig, ...unsigned } = envelope;
  return verifyLabelled(signKey, sig, LABELS.noteSignature, await noteSigningView(unsigned, fromBase64url(envelope.title), fromBase64url(envelope.body)));
}

const VERSION_HASH_PREFIX = concatBytes(utf8(LABELS.noteVersionHash), new Uint8Array([0]));

/**
 * The hash of one signed note version (DESIGN §5): what the next version's `prev`
 * names. SHA-256(`conclave/v2/note-version-hash` ‖ 0 ‖ the signed bytes ‖ signature
 * bytes), where the signed bytes are `labelled('conclave/v2/note-signature', view)` —
 * exactly what the author signed — so the hash covers every field and both
 * ciphertexts (by their digests), as a log entry's hash covers the entry.
 * Public verification only: the storage API checks `prev` with it too.
 * @throws {EncodingError} when the envelope is not canonical (its signature is not 64 bytes).
 */
export async function noteVersionHash(envelope: NoteEnvelope): Promise<string> {
  const { sig, ...unsigned } = envelope;
  return versionHashOfView(await noteSigningView(unsigned, fromBase64url(envelope.title), fromBase64url(envelope.body)), sig);
}

/** `noteVersionHash` from a signed view already built (the ciphertexts are not hashed again). */
export async function versionHashOfView(view: Record<string, unknown>, sig: string): Promise<string> {
  return versionHashOfSigned(labelled(LABELS.noteSignature, view), sig);
}

/** The bytes a note's signature covers: `labelled('conclave/v2/note-signature', view)`. */
export function noteSignedBytes(view: Record<string, unknown>): Bytes {
  return labelled(LABELS.noteSignature, view);
}

/** `noteVersionHash` from the signed bytes already built (they are not encoded again). */
export function versionHashOfSigned(signed: Uint8Array, sig: string): string {
  return toBase64url(sha256NowOfParts(VERSION_HASH_PREFIX, signed, fromBase64url(sig, 64)));
}
