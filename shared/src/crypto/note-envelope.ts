/**
 * Note envelopes (DESIGN §5). Every note version gets a fresh 256-bit content key;
 * title and body are encrypted with it under associated data that binds group, note
 * id, version, generation and author; the content key is wrapped with the
 * generation's note key; the author signs the whole envelope (over SHA-256 digests of
 * the two ciphertexts, so a 1 MiB body is hashed once rather than twice by Ed25519).
 */
import { labelled } from '../protocol/canonical.ts';
import { decodeCanonicalBase64url } from '../protocol/base64url-decode.ts';
import { bytes, fromBase64url, fromUtf8, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';
import { NOTE_BODY_MAX_BYTES, NOTE_TITLE_MAX_BYTES, PROTOCOL_VERSION, noteEnvelopeSchema, type NoteEnvelope } from '../protocol/schemas.ts';
import { DecryptError, EncodingError, NoteError } from './errors.ts';
import { signKeyOfDevice, type GroupState } from './group-log.ts';
import { signLabelled, type DeviceIdentity } from './identity.ts';
import { LABELS } from './labels.ts';
import { noteSignedBytes, noteSigningView, versionHashOfSigned } from './note-signature.ts';
import { aeadOpen, aeadSeal, importAeadKey, randomBytes, verify } from './primitives.ts';

export interface NotePlaintext {
  title: string;
  body: string;
}

export interface NoteAddress {
  groupId: GroupId;
  noteId: NoteId;
  version: number;
  generation: number;
  author: Fingerprint;
}

export function newNoteId(): NoteId {
  return toBase64url(randomBytes(16)) as NoteId;
}

function contentAad(address: NoteAddress, part: 'title' | 'body'): Bytes {
  return labelled(LABELS.noteContent, { ...address, part });
}

function wrapAad(address: NoteAddress): Bytes {
  return labelled(LABELS.noteKeyWrap, address);
}


/**
 * Encrypts and signs one note version.
 * @param noteKey the note key of `address.generation` (from `generationKeys`), raw or
 *   imported once with `importAeadKey` for many notes.
 * @param options.prev the `noteVersionHash` of version `address.version - 1` (required
 *   after version 1; DESIGN §5: the versions of a note form a signed chain).
 * @throws {EncodingError} when the title or body is over the size limit.
 * @throws {NoteError} when `prev` is missing after version 1, or given for version 1.
 */
export async function sealNote(
  author: DeviceIdentity,
  address: Omit<NoteAddress, 'author'>,
  noteKey: Uint8Array | CryptoKey,
  content: NotePlaintext,
  options: { deleted?: boolean; at?: number; prev?: string | null } = {},
): Promise<NoteEnvelope> {
  const full: NoteAddress = { ...address, author: author.fingerprint };
  const prev = options.prev ?? null;
  if ((address.version === 1) !== (prev === null)) {
    throw new NoteError(address.version === 1 ? 'the first version of a note has no previous version' : `version ${address.version} must name the hash of version ${address.version - 1}`);
  }
  const title = utf8(content.title);
  const body = utf8(content.body);
  if (title.length > NOTE_TITLE_MAX_BYTES) throw new EncodingError(`a note title can be at most ${NOTE_TITLE_MAX_BYTES} bytes`);
  if (body.length > NOTE_BODY_MAX_BYTES) throw new EncodingError(`a note can be at most ${NOTE_BODY_MAX_BYTES / 1024} KiB`);
  const contentKey = randomBytes(32);
  const contentCryptoKey = await importAeadKey(contentKey);
  const [sealedTitle, sealedBody, wrappedKey] = await Promise.all([
    aeadSeal(contentCryptoKey, title, contentAad(full, 'title')),
    aeadSeal(contentCryptoKey, body, contentAad(full, 'body')),
    aeadSeal(noteKey, contentKey, wrapAad(full)),
  ]);
  const unsigned: Omit<NoteEnvelope, 'sig'> = {
    v: PROTOCOL_VERSION,
    ...full,
    at: options.at ?? Date.now(),
    deleted: options.deleted ?? false,
    prev,
    wrappedKey: toBase64url(wrappedKey),
    title: toBase64url(sealedTitle),
    body: toBase64url(sealedBody),
  };
  return { ...unsigned, sig: await signLabelled(author, LABELS.noteSignature, await noteSigningView(unsigned, sealedTitle, sealedBody)) };
}

/**
 * Why a note cannot be shown, in the words the side panel uses. The last four are the
 * chain rules and this device's memory (client/notes.ts, DESIGN §5):
 * - `broken-chain`: a version's `prev` is not the hash of the version before it (or a
 *   version the chain needs is missing);
 * - `generation-went-back`: a version is sealed with an older generation than the one
 *   before it (a departed member's old key);
 * - `forked`: a different note than this device saw at a version it saw;
 * - `vanished`: the server no longer has a note this device saw, and no signed deletion.
 */
export type NoteFailure =
  | 'malformed'
  | 'moved'
  | 'log-behind'
  | 'unknown-author'
  | 'bad-signature'
  | 'no-key'
  | 'decrypt'
  | 'broken-chain'
  | 'generation-went-back'
  | 'forked'
  | 'vanished';

export class NoteOpenError extends NoteError {
  constructor(
    readonly reason: NoteFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies and decrypts a note envelope.
 * @param expected where the caller asked for it: a stored envelope moved to another note
 *   id, group or version is refused.
 * @param noteKeyFor the note key of a generation, or undefined when this device does not hold it.
 * @throws {NoteOpenError} with a reason the UI can explain.
 */
export async function openNote(
  input: unknown,
  state: GroupState,
  expected: { noteId: NoteId; version?: number },
  noteKeyFor: (generation: number) => Promise<Uint8Array | CryptoKey | undefined> | Uint8Array | CryptoKey | undefined,
): Promise<NotePlaintext & { envelope: NoteEnvelope; hash: string }> {
  const { envelope, signKey } = checkedEnvelope(input, state, expected);
  const { sig, ...unsigned } = envelope;
  // Decoded once (the schema has checked the text): hashed for the signature, then decrypted.
  const sealedTitle = fromSchemaChecked(envelope.title);
  const sealedBody = fromSchemaChecked(envelope.body);
  const address: NoteAddress = {
    groupId: envelope.groupId,
    noteId: envelope.noteId,
    version: envelope.version,
    generation: envelope.generation,
    author: envelope.author,
  };
  // Signature check and decryption run side by side; plaintext is released only after
  // the signature holds.
  // The signed bytes are encoded once: verified, then hashed into the version hash.
  const signed = noteSigningView(unsigned, sealedTitle, sealedBody).then(noteSignedBytes);
  const signatureHolds = signed.then((bytes) => verifySignature(signKey, sig, bytes));
  const decryption = (async () => {
    const noteKey = await noteKeyFor(envelope.generation);
    if (!noteKey) return null;
    const contentKey = await importAeadKey(await aeadOpen(noteKey, fromBase64url(envelope.wrappedKey), wrapAad(address), 'note key'));
    const [title, body] = await Promise.all([
      aeadOpen(contentKey, sealedTitle, contentAad(address, 'title'), 'note title'),
      aeadOpen(contentKey, sealedBody, contentAad(address, 'body'), 'note body'),
    ]);
    return { title: fromUtf8(title), body: fromUtf8(body) };
  })().then(
    (plaintext) => ({ plaintext }),
    (error: unknown) => ({ error }),
  );
  if (!(await signatureHolds)) {
    throw new NoteOpenError('bad-signature', 'signature invalid: this note was changed after it was written, possibly tampered');
  }
  checkLinkRule(envelope);
  const outcome = await decryption;
  if ('error' in outcome) {
    const { error } = outcome;
    if (error instanceof DecryptError || error instanceof EncodingError) {
      throw new NoteOpenError('decrypt', 'this note could not be decrypted with the group key: it may be damaged');
    }
    throw error;
  }
  if (!outcome.plaintext) throw new NoteOpenError('no-key', 'the key for this note has not reached this device yet');
  // The version hash from the same digests the signature covered: the ciphertexts are hashed once.
  return { ...outcome.plaintext, envelope, hash: versionHashOfSigned(await signed, sig) };
}

/**
 * Verifies a note envelope without decrypting it: its form, where it is filed, its
 * author's membership at its generation, its link rule (version 1 has no `prev`, every
 * later version has one) and its signature. Used to check the versions a chain passes
 * through. Also gives the version's `noteVersionHash`, from the same digests the
 * signature covers.
 * @throws {NoteOpenError} with a reason the UI can explain.
 */
export async function verifyNoteHashed(input: unknown, state: GroupState, expected: { noteId: NoteId; version?: number }): Promise<{ envelope: NoteEnvelope; hash: string }> {
  const { envelope, signKey } = checkedEnvelope(input, state, expected);
  const { sig, ...unsigned } = envelope;
  const signed = noteSignedBytes(await noteSigningView(unsigned, fromSchemaChecked(envelope.title), fromSchemaChecked(envelope.body)));
  if (!(await verifySignature(signKey, sig, signed))) {
    throw new NoteOpenError('bad-signature', 'signature invalid: this note was changed after it was written, possibly tampered');
  }
  checkLinkRule(envelope);
  return { envelope, hash: versionHashOfSigned(signed, sig) };
}

/** Ciphertext text the envelope schema has just checked canonical: decoded without a second scan (a 1 MiB body is 1.4 M characters). */
function fromSchemaChecked(text: string): Bytes {
  return bytes(decodeCanonicalBase64url(text));
}

/** A base64url signature over bytes already built; a signature that is not 64 bytes is simply invalid. */
async function verifySignature(signKey: Uint8Array, signature: string, signed: Uint8Array): Promise<boolean> {
  let sig: Bytes;
  try {
    sig = fromBase64url(signature, 64);
  } catch {
    return false;
  }
  return verify(signKey, sig, signed);
}

/** Version 1 names no previous version; every later version names one (its author signed that). */
function checkLinkRule(envelope: NoteEnvelope): void {
  if ((envelope.version === 1) !== (envelope.prev === null)) {
    throw new NoteOpenError('broken-chain', envelope.version === 1 ? 'this note claims a version before its first: possibly tampered' : 'this note version does not name the version before it: possibly tampered');
  }
}

/** Form, place, link rule and author of an envelope (everything but the signature). */
function checkedEnvelope(input: unknown, state: GroupState, expected: { noteId: NoteId; version?: number }): { envelope: NoteEnvelope; signKey: Uint8Array } {
  const parsed = noteEnvelopeSchema.safeParse(input);
  if (!parsed.success) throw new NoteOpenError('malformed', 'this note is damaged: it is not a valid note envelope');
  const envelope = parsed.data;
  if (envelope.groupId !== state.groupId || envelope.noteId !== expected.noteId || (expected.version !== undefined && envelope.version !== expected.version)) {
    throw new NoteOpenError('moved', 'this note was stored under another name or version than it was written for: possibly tampered');
  }
  if (envelope.generation >= state.generations.length) {
    throw new NoteOpenError('log-behind', 'this note was written after the newest group change this device knows of: sync the group and try again');
  }
  const generation = state.generations[envelope.generation];
  // The author is a device: it must have spoken for a member while that generation was current.
  const signKey = signKeyOfDevice(state, envelope.author);
  if (!generation || !signKey || !generation.devices.has(envelope.author)) {
    throw new NoteOpenError('unknown-author', 'this note claims an author who was not a member when it was written: possibly tampered');
  }
  return { envelope, signKey };
}
