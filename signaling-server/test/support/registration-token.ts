/**
 * Client side of signaling registration (signaling-server/src/auth.ts). It signs with
 * the device's private key, so it lives with the clients (here: tests), never in
 * server code. Extension code can move it into shared/ later.
 */
import { LABELS } from '../../../shared/src/crypto/labels.ts';
import { signLabelled, type DeviceIdentity } from '../../../shared/src/crypto/identity.ts';
import { canonicalJson } from '../../../shared/src/protocol/canonical.ts';
import { toBase64url, utf8 } from '../../../shared/src/protocol/encoding.ts';

export interface TokenOverrides {
  /** Claim this id instead of the identity's own fingerprint (for impersonation tests). */
  id?: string;
  nonce?: string;
  /** Replace the bundle carried in the token. */
  bundle?: unknown;
  sig?: string;
}

export function randomNonce(): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(18)));
}

/** base64url(canonicalJson({bundle, at, nonce, sig})), sig over labelled(signalingToken, {id, at, nonce}). */
export async function makeRegistrationToken(identity: DeviceIdentity, now: number = Date.now(), overrides: TokenOverrides = {}): Promise<string> {
  const id = overrides.id ?? identity.fingerprint;
  const nonce = overrides.nonce ?? randomNonce();
  const at = now;
  const sig = overrides.sig ?? (await signLabelled(identity, LABELS.signalingToken, { id, at, nonce }));
  return toBase64url(utf8(canonicalJson({ bundle: overrides.bundle ?? identity.bundle, at, nonce, sig })));
}
