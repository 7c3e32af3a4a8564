/**
 * The published vectors, imported as JSON so the same tests run in Node and in
 * Chromium (Vite bundles them; no file system access is needed in the browser).
 */
import hpkeA1 from '@vectors/hpke-rfc9180-a1-base.json';
import signalSafetyNumber from '@vectors/signal-safety-number.json';
import aesGcm from '@vectors/wycheproof/aes_gcm_test.json';
import ed25519 from '@vectors/wycheproof/ed25519_test.json';
import x25519 from '@vectors/wycheproof/x25519_test.json';
import hkdfSha256 from '@vectors/wycheproof/hkdf_sha256_test.json';

export { hpkeA1, signalSafetyNumber, aesGcm, ed25519, x25519, hkdfSha256 };

/** Wycheproof's verdict on a case. */
export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';
