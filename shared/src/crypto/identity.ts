/**
 * Device identities (DESIGN §3): an Ed25519 sign key and an X25519 box key whose
 * private halves are non-extractable CryptoKeys, a public bundle in which the sign
 * key vouches for the box key, and the fingerprint that names the device everywhere
 * (log author, key box recipient, signaling peer id).
 */
import { labelled } from '../protocol/canonical.ts';
import { fromBase64url, toBase32, toBase64url, type Bytes } from '../protocol/encoding.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import { PROTOCOL_VERSION, publicBundleSchema, type PublicBundle } from '../protocol/schemas.ts';
import { EncodingError, SignatureError } from './errors.ts';
import { LABELS } from './labels.ts';
import { generateBoxKeyPair, generateSigningKeyPair, isUsableBoxKey, sha256Now, sign, verify, type KeyPairWithPublicBytes } from './primitives.ts';

/** A device's own identity. Structured-cloneable, so it is stored in IndexedDB as is. */
export interface DeviceIdentity {
  signKeys: KeyPairWithPublicBytes;
  boxKeys: KeyPairWithPublicBytes;
  bundle: PublicBundle;
  fingerprint: Fingerprint;
}

/** Builds and self-signs the public bundle of two key pairs. */
export async function identityFromKeyPairs(signKeys: KeyPairWithPublicBytes, boxKeys: KeyPairWithPublicBytes): Promise<DeviceIdentity> {
  const unsigned = { v: PROTOCOL_VERSION, signKey: toBase64url(signKeys.publicBytes), boxKey: toBase64url(boxKeys.publicBytes) };
  const sig = await sign(signKeys.privateKey, labelled(LABELS.bundleSignature, unsigned));
  const bundle: PublicBundle = { ...unsigned, sig: toBase64url(sig) };
  return { signKeys, boxKeys, bundle, fingerprint: fingerprintOf(bundle) };
}

/** Creates a fresh device identity; its private keys can never be exported. */
export async function generateIdentity(): Promise<DeviceIdentity> {
  const [signKeys, boxKeys] = await Promise.all([generateSigningKeyPair(), generateBoxKeyPair()]);
  return identityFromKeyPairs(signKeys, boxKeys);
}

/** Raw bytes of a fingerprint: SHA-256(`conclave/v2/fingerprint` ‖ 0 ‖ canonical bundle). */
export function fingerprintBytes(bundle: PublicBundle): Bytes {
  return sha256Now(labelled(LABELS.fingerprint, bundle));
}

/** The fingerprint as text: lower-case base32, 52 characters. It is also the device's peer id. */
export function fingerprintOf(bundle: PublicBundle): Fingerprint {
  return toBase32(fingerprintBytes(bundle)) as Fingerprint;
}

/** The first 16 characters in groups of four, for lists where the full safety number does not fit. */
export function shortFingerprint(fingerprint: Fingerprint): string {
  return fingerprint.slice(0, 16).match(/.{4}/g)!.join(' ');
}

/** A bundle that parsed and whose self-signature holds. */
export interface VerifiedBundle {
  bundle: PublicBundle;
  fingerprint: Fingerprint;
  signKey: Bytes;
  boxKey: Bytes;
}

/**
 * Parses a bundle from untrusted input and checks that the sign key signed the box key.
 * @throws {EncodingError} when it is malformed or its box key is a low-order point;
 *   {SignatureError} when the self-signature fails.
 */
export async function parseBundle(input: unknown): Promise<VerifiedBundle> {
  const parsed = publicBundleSchema.safeParse(input);
  if (!parsed.success) throw new EncodingError(`public bundle is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const bundle = parsed.data;
  const signKey = fromBase64url(bundle.signKey, 32);
  const boxKey = fromBase64url(bundle.boxKey, 32);
  const { sig, ...unsigned } = bundle;
  if (!(await verify(signKey, fromBase64url(sig, 64), labelled(LABELS.bundleSignature, unsigned)))) {
    throw new SignatureError('public bundle');
  }
  if (!(await isUsableBoxKey(boxKey))) throw new EncodingError('public bundle has a box key nothing can be sealed to');
  return { bundle, fingerprint: fingerprintOf(bundle), signKey, boxKey };
}

/** Signs `label ‖ 0 ‖ canonical(value)` with a device's sign key, as base64url. */
export async function signLabelled(identity: { signKeys: KeyPairWithPublicBytes }, label: string, value: unknown): Promise<string> {
  return toBase64url(await sign(identity.signKeys.privateKey, labelled(label, value)));
}

/** Verifies a base64url signature over `label ‖ 0 ‖ canonical(value)`. */
export async function verifyLabelled(signKey: Uint8Array, signature: string, label: string, value: unknown): Promise<boolean> {
  let sig: Bytes;
  try {
    sig = fromBase64url(signature, 64);
  } catch {
    return false;
  }
  return verify(signKey, sig, labelled(label, value));
}

