/**
 * What a note's author signs (DESIGN §5): the envelope's header with SHA-256 digests of
 * the title and body ciphertexts. Public verification only, so the storage API checks
 * it too before it stores a note (defence in depth; clients check it themselves).
 */
import { fromBase64url, toBase64url } from '../protocol/encoding.ts';
import type { NoteEnvelope } from '../protocol/schemas.ts';
import { verifyLabelled } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256 } from './primitives.ts';

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
