/**
 * Client side of signaling registration (signaling-server/src/auth.ts verifies it): a
 * fresh, single-use token proving this device holds the sign key behind the peer id it
 * registers under. It signs with the device's private key, so it lives with the
 * clients and never in server code. Browser-safe: WebCrypto only.
 *
 * token = base64url(canonicalJson({bundle, at, nonce, sig})),
 * sig over labelled(LABELS.signalingToken, {id, at, nonce}), id = the fingerprint.
 */
import { signLabelled, type DeviceIdentity } from '../crypto/identity.ts';
import { LABELS } from '../crypto/labels.ts';
import { randomBytes } from '../crypto/primitives.ts';
import { canonicalJson } from '../protocol/canonical.ts';
import { toBase64url, utf8 } from '../protocol/encoding.ts';

/** Test seams: forge a field to check that the server refuses it. */
export interface TokenOverrides {
  /** Claim this id instead of the identity's own fingerprint (impersonation). */
  id?: string;
  nonce?: string;
  /** Replace the bundle carried in the token. */
  bundle?: unknown;
  sig?: string;
}

function randomNonce(): string {
  return toBase64url(randomBytes(18));
}

/** A new token for one registration: PeerJS must be given a fresh one for every (re)connect. */
export function makeRegistrationToken(identity: DeviceIdentity, now: number = Date.now(), overrides: TokenOverrides = {}): Promise<string> {
  return makeSignalingToken(identity, {}, now, overrides);
}

/**
 * A signaling token over `{id, at, nonce, ...statement}`: registration signs no more
 * (`statement` empty); presence adds `purpose: 'presence'`, so neither passes for the other.
 */
export async function makeSignalingToken(identity: DeviceIdentity, statement: Record<string, string>, now: number = Date.now(), overrides: TokenOverrides = {}): Promise<string> {
  const id = overrides.id ?? identity.fingerprint;
  const nonce = overrides.nonce ?? randomNonce();
  const at = now;
  const sig = overrides.sig ?? (await signLabelled(identity, LABELS.signalingToken, { id, at, nonce, ...statement }));
  return toBase64url(utf8(canonicalJson({ bundle: overrides.bundle ?? identity.bundle, at, nonce, sig })));
}
