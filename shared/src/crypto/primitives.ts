/**
 * The only module that touches WebCrypto and HPKE (DESIGN §2). Everything else in
 * the protocol calls these functions; none of them is a hand-written primitive.
 *
 * - Ed25519 signatures, X25519 key agreement, AES-GCM, HKDF-SHA256, SHA-256/512:
 *   WebCrypto (`globalThis.crypto.subtle`), in Node 20 and current Chromium alike.
 * - HPKE (RFC 9180, mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM):
 *   `@hpke/core` over native X25519 CryptoKeys. The key schedule's HKDF runs on
 *   `@noble/hashes` instead of a dozen asynchronous WebCrypto HMAC calls; the RFC 9180
 *   A.1 vectors prove it computes the same bytes (shared/test/vectors-hpke.test.ts).
 * - SHA-512 in a tight loop (the safety number's 5200 rounds) and HMAC also run on
 *   `@noble/hashes`, which is synchronous.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256 } from '@hpke/core';
import { HkdfSha256Native, SUITE_ID_HEADER_KEM, i2Osp } from '@hpke/common';
import { extract as hkdfExtract, expand as hkdfExpand } from '@noble/hashes/hkdf.js';
import { sha256 as sha256Sync, sha512 as sha512Sync } from '@noble/hashes/sha2.js';
import { bytes, concatBytes, fromBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import { DecryptError, EncodingError } from './errors.ts';

const subtle = globalThis.crypto.subtle;

/** A view WebCrypto accepts without copying (copies only views on shared memory). */
function bufferView(data: Uint8Array): Bytes {
  return data.buffer instanceof ArrayBuffer ? (data as Bytes) : new Uint8Array(data);
}

export { sha512Sync };

/** Cryptographically secure random bytes. */
export function randomBytes(length: number): Bytes {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let at = 0; at < length; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  return out;
}

/**
 * Up to this size a synchronous hash beats a round trip through WebCrypto's thread pool.
 * Measured on Node 20: `@noble/hashes` SHA-256 takes about 17 µs for 1 KiB and 50 µs
 * for 4 KiB, a WebCrypto digest 25–50 µs whatever the size up to tens of KiB (native
 * SHA-256 is about ten times faster per byte), so a 64 KiB note body is hashed natively.
 */
const SYNC_HASH_LIMIT = 2 * 1024;

export async function sha256(data: Uint8Array): Promise<Bytes> {
  if (data.length <= SYNC_HASH_LIMIT) return sha256Now(data);
  return new Uint8Array(await subtle.digest('SHA-256', bytes(data)));
}

export async function sha512(data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle.digest('SHA-512', bytes(data)));
}

/** SHA-256 without a round trip through the event loop, for small hashes in hot loops. */
export function sha256Now(data: Uint8Array): Bytes {
  return bytes(sha256Sync(data));
}

/** SHA-256 of `parts` end to end, without copying them into one buffer first. */
export function sha256NowOfParts(...parts: Uint8Array[]): Bytes {
  const hash = sha256Sync.create();
  for (const part of parts) hash.update(part);
  return bytes(hash.digest());
}

/**
 * HKDF-SHA256 (RFC 5869) through WebCrypto.
 * @throws {EncodingError} when more than 255 × 32 bytes are asked for.
 */
export async function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Bytes> {
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32) {
    throw new EncodingError('HKDF-SHA256 output must be between 0 and 8160 bytes');
  }
  if (length === 0) return new Uint8Array(0);
  const key = await subtle.importKey('raw', bytes(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: bytes(salt), info: bytes(info) }, key, length * 8);
  return new Uint8Array(bits);
}

// ---------------------------------------------------------------------------
// AES-GCM (DESIGN §2: AES-256-GCM with 96-bit random nonces for our data)

export const AES_GCM_NONCE_BYTES = 12;
export const AES_GCM_TAG_BYTES = 16;

function checkAesGcmParams(key: Uint8Array, iv: Uint8Array): void {
  if (key.length !== 16 && key.length !== 32) throw new EncodingError('AES-GCM key must be 16 or 32 bytes');
  if (iv.length !== AES_GCM_NONCE_BYTES) throw new EncodingError('AES-GCM nonce must be 12 bytes');
}

/**
 * AES-GCM encryption with an explicit 12-byte nonce and a 16-byte tag; returns
 * ciphertext ‖ tag. Other nonce sizes are refused: they are where GCM breaks.
 * @throws {EncodingError} for a wrong key or nonce size.
 */
export async function aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Bytes> {
  checkAesGcmParams(key, iv);
  const k = await subtle.importKey('raw', bytes(key), 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: bytes(iv), additionalData: bytes(aad) }, k, bytes(plaintext)));
}

/**
 * Opens ciphertext ‖ tag.
 * @throws {DecryptError} when the tag does not verify; {EncodingError} for bad sizes.
 */
export async function aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array, what = 'data'): Promise<Bytes> {
  checkAesGcmParams(key, iv);
  if (sealed.length < AES_GCM_TAG_BYTES) throw new DecryptError(what);
  const k = await subtle.importKey('raw', bytes(key), 'AES-GCM', false, ['decrypt']);
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: bytes(iv), additionalData: bytes(aad) }, k, bytes(sealed)));
  } catch {
    throw new DecryptError(what);
  }
}

/**
 * An AES-256-GCM key imported once, for a key used more than once (a note's content
 * key for title and body, a generation's note key for many notes). Not extractable.
 * @throws {EncodingError} when the key is not 32 bytes.
 */
export async function importAeadKey(key: Uint8Array): Promise<CryptoKey> {
  if (key.length !== 32) throw new EncodingError('AES-256-GCM key must be 32 bytes');
  return subtle.importKey('raw', bytes(key), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

async function aeadKey(key: Uint8Array | CryptoKey): Promise<CryptoKey> {
  return key instanceof Uint8Array ? importAeadKey(key) : key;
}

/** AES-256-GCM with a fresh random nonce; returns nonce ‖ ciphertext ‖ tag. */
export async function aeadSeal(key: Uint8Array | CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Bytes> {
  const k = await aeadKey(key);
  const nonce = randomBytes(AES_GCM_NONCE_BYTES);
  const sealed = await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: bytes(aad) }, k, bytes(plaintext));
  return concatBytes(nonce, new Uint8Array(sealed));
}

/**
 * Opens nonce ‖ ciphertext ‖ tag from {@link aeadSeal}.
 * @throws {DecryptError}
 */
export async function aeadOpen(key: Uint8Array | CryptoKey, sealed: Uint8Array, aad: Uint8Array, what = 'data'): Promise<Bytes> {
  const k = await aeadKey(key);
  if (sealed.length < AES_GCM_NONCE_BYTES + AES_GCM_TAG_BYTES) throw new DecryptError(what);
  try {
    const iv = sealed.subarray(0, AES_GCM_NONCE_BYTES);
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: bytes(iv), additionalData: bytes(aad) }, k, bufferView(sealed.subarray(AES_GCM_NONCE_BYTES))));
  } catch {
    throw new DecryptError(what);
  }
}

// ---------------------------------------------------------------------------
// Ed25519

export const ED25519_PUBLIC_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_PUBLIC_BYTES = 32;

/** A signing or box key pair whose private half never leaves WebCrypto. */
export interface KeyPairWithPublicBytes {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicBytes: Bytes;
}

export async function generateSigningKeyPair(): Promise<KeyPairWithPublicBytes> {
  const pair = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  return { ...pair, publicBytes: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

export async function generateBoxKeyPair(): Promise<KeyPairWithPublicBytes> {
  const pair = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  return { ...pair, publicBytes: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

// PKCS#8 prefixes (RFC 8410) for wrapping a raw 32-byte private key.
const PKCS8_PREFIX = {
  Ed25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
  X25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20],
} as const;

/**
 * Imports a key pair from a 32-byte private seed (used for keys derived from an
 * invite secret or a recovery code). The private key is non-extractable.
 * @throws {EncodingError} when the seed is not 32 bytes.
 */
export async function keyPairFromSeed(algorithm: 'Ed25519' | 'X25519', seed: Uint8Array): Promise<KeyPairWithPublicBytes> {
  if (seed.length !== 32) throw new EncodingError('private key seed must be 32 bytes');
  const pkcs8 = concatBytes(Uint8Array.from(PKCS8_PREFIX[algorithm]), seed);
  const usages: KeyUsage[] = algorithm === 'Ed25519' ? ['sign'] : ['deriveBits'];
  // An extractable copy lives only long enough to read the public half.
  const exportable = await subtle.importKey('pkcs8', pkcs8, { name: algorithm }, true, usages);
  const jwk = await subtle.exportKey('jwk', exportable);
  if (typeof jwk.x !== 'string') throw new EncodingError('runtime did not return the public key');
  const publicBytes = fromBase64url(jwk.x, 32);
  const privateKey = await subtle.importKey('pkcs8', pkcs8, { name: algorithm }, false, usages);
  const publicKey = await subtle.importKey('raw', publicBytes, { name: algorithm }, true, algorithm === 'Ed25519' ? ['verify'] : []);
  return { privateKey, publicKey, publicBytes };
}

export async function sign(privateKey: CryptoKey, message: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle.sign('Ed25519', privateKey, bytes(message)));
}

/**
 * Imports public keys of one algorithm through a bounded cache keyed by their bytes, so
 * a key met again (an author across a log, a recipient across rotations) is imported
 * once. The oldest entry is evicted (a Map keeps insertion order), never the whole cache
 * mid-replay; a failed import is forgotten, so it is tried again.
 */
function cachedPublicKeyImport(algorithm: 'Ed25519' | 'X25519', usages: KeyUsage[], limit = 16_384): (publicKey: Uint8Array) => Promise<CryptoKey> {
  const cache = new Map<string, Promise<CryptoKey>>();
  return (publicKey) => {
    const id = String.fromCharCode(...publicKey);
    let key = cache.get(id);
    if (!key) {
      if (cache.size >= limit) cache.delete(cache.keys().next().value!);
      key = subtle.importKey('raw', bytes(publicKey), { name: algorithm }, false, usages);
      cache.set(id, key);
      key.catch(() => cache.delete(id));
    }
    return key;
  };
}

/** Imported Ed25519 public keys: log replay verifies many entries per author. */
const importVerifyKey = cachedPublicKeyImport('Ed25519', ['verify']);

/**
 * Verifies an Ed25519 signature. Malformed keys or signatures are simply invalid.
 * @returns true only for a valid signature by exactly this key over exactly this message.
 */
export async function verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (publicKey.length !== ED25519_PUBLIC_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    return await subtle.verify('Ed25519', await importVerifyKey(publicKey), bytes(signature), bytes(message));
  } catch {
    return false;
  }
}

/**
 * Raw X25519 (RFC 7748) between a private key and a peer's public bytes.
 * @throws {EncodingError} for a public key of the wrong size or one the runtime refuses
 * (e.g. a low-order point, whose shared secret would be all zero).
 */
export async function x25519(privateKey: CryptoKey, peerPublic: Uint8Array): Promise<Bytes> {
  if (peerPublic.length !== X25519_PUBLIC_BYTES) throw new EncodingError('X25519 public key must be 32 bytes');
  if (privateKey.algorithm.name !== 'X25519' || privateKey.type !== 'private') throw new EncodingError('X25519 needs an X25519 private key');
  let pub: CryptoKey;
  try {
    pub = await subtle.importKey('raw', bytes(peerPublic), { name: 'X25519' }, false, []);
  } catch {
    throw new EncodingError('X25519 refused the public key: it is not a valid point encoding');
  }
  try {
    return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub }, privateKey, 256));
  } catch {
    // WebCrypto refuses low-order points, whose shared secret would be all zero (RFC 7748 §6.1).
    throw new EncodingError('X25519 refused the public key: it gives an all-zero shared secret');
  }
}

let probeKey: Promise<CryptoKeyPair> | undefined;

/**
 * True when a peer's X25519 public key can be sealed to: WebCrypto refuses low-order
 * points (all-zero shared secret), so one agreement with a throwaway key tells.
 */
export async function isUsableBoxKey(publicKey: Uint8Array): Promise<boolean> {
  probeKey ??= subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']) as Promise<CryptoKeyPair>;
  try {
    await x25519((await probeKey).privateKey, publicKey);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// HPKE (RFC 9180), suite of A.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM

/**
 * HKDF-SHA256 for the HPKE key schedule on `@noble/hashes`: the same function as
 * WebCrypto's, computed synchronously, which removes about a dozen thread-pool round
 * trips from every seal and open.
 */
class HkdfSha256Immediate extends HkdfSha256Native {
  override async extract(salt: ArrayBufferLike | ArrayBufferView, ikm: ArrayBufferLike | ArrayBufferView): Promise<ArrayBuffer> {
    const s = toView(salt);
    return hkdfExtract(sha256Sync, toView(ikm), s.length === 0 ? new Uint8Array(32) : s).slice().buffer;
  }

  override async expand(prk: ArrayBufferLike | ArrayBufferView, info: ArrayBufferLike | ArrayBufferView, len: number): Promise<ArrayBuffer> {
    return hkdfExpand(sha256Sync, toView(prk), toView(info), len).slice().buffer;
  }

  override async extractAndExpand(
    salt: ArrayBufferLike | ArrayBufferView,
    ikm: ArrayBufferLike | ArrayBufferView,
    info: ArrayBufferLike | ArrayBufferView,
    len: number,
  ): Promise<ArrayBuffer> {
    return this.expand(await this.extract(salt, ikm), info, len);
  }
}

function toView(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** DHKEM(X25519, HKDF-SHA256) whose ExtractAndExpand also runs on the immediate HKDF. */
class DhkemX25519Immediate extends DhkemX25519HkdfSha256 {
  constructor() {
    super();
    const kdf = new HkdfSha256Immediate();
    const suiteId = new Uint8Array(SUITE_ID_HEADER_KEM);
    suiteId.set(i2Osp(this.id, 2), 3);
    kdf.init(suiteId);
    this._kdf = kdf;
  }
}

const hpkeSuite = new CipherSuite({
  kem: new DhkemX25519Immediate(),
  kdf: new HkdfSha256Immediate(),
  aead: new Aes128Gcm(),
});

export const HPKE_ENC_BYTES = 32;

/** A test-only seam: the ephemeral key pair's input keying material (RFC 9180 `ikmE`). */
export interface HpkeTestOptions {
  ephemeralIkm?: Uint8Array;
}

// RFC 9180 base-mode sealing, written out (§4.1, §5.1, §6.1) for the one suite we use:
// a rotation seals a seed to every device of a group, and `@hpke/core`'s general
// context machinery cost about as much again as the WebCrypto work itself. Opening stays
// on `@hpke/core`; the RFC's A.1 vectors check these bytes (vectors-hpke.test.ts).
const HPKE_V1 = utf8('HPKE-v1');
/** suite_id of the KEM: "KEM" ‖ I2OSP(0x0020, 2) (DHKEM(X25519, HKDF-SHA256)). */
const KEM_SUITE_ID = Uint8Array.of(0x4b, 0x45, 0x4d, 0x00, 0x20);
/** suite_id of HPKE: "HPKE" ‖ kem 0x0020 ‖ kdf 0x0001 (HKDF-SHA256) ‖ aead 0x0001 (AES-128-GCM). */
const HPKE_SUITE_ID = Uint8Array.of(0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, 0x01);
const ZERO_SALT = new Uint8Array(32);

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return hkdfExtract(sha256Sync, concatBytes(HPKE_V1, suiteId, utf8(label), ikm), salt.length === 0 ? ZERO_SALT : salt);
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return hkdfExpand(sha256Sync, prk, concatBytes(Uint8Array.of(length >> 8, length & 0xff), HPKE_V1, suiteId, utf8(label), info), length);
}

/** psk_id_hash of mode_base (no PSK): the same for every seal. */
const PSK_ID_HASH = labeledExtract(HPKE_SUITE_ID, new Uint8Array(0), 'psk_id_hash', new Uint8Array(0));

/** Imported recipient box keys: an admin seals to the same devices rotation after rotation. */
const importBoxKey = cachedPublicKeyImport('X25519', []);

/** A fresh ephemeral key pair (RFC 9180 §4.1 GenerateKeyPair), or the one `ikmE` derives (tests only, §7.1.3). */
async function ephemeralKeyPair(ikm: Uint8Array | undefined): Promise<{ privateKey: CryptoKey; publicBytes: Bytes }> {
  const pair = ikm ? await hpkeSuite.kem.deriveKeyPair(bytes(ikm)) : ((await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair);
  // The JWK's `x` is the raw public key (RFC 8037 §2); Node builds it inline, where a raw export is a thread-pool job.
  const { x } = await subtle.exportKey('jwk', pair.publicKey);
  if (typeof x !== 'string') throw new EncodingError('runtime did not return the ephemeral public key');
  return { privateKey: pair.privateKey, publicBytes: fromBase64url(x, X25519_PUBLIC_BYTES) };
}

/**
 * HPKE single-shot seal (RFC 9180 §6.1, mode_base, DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, AES-128-GCM): Encap (§4.1), KeySchedule (§5.1), then one AES-GCM seal
 * under the base nonce (sequence number 0).
 * @param options only tests pass this, to reproduce the RFC vectors.
 * @throws {EncodingError} when the recipient key is malformed or one nothing can be sealed to.
 */
export async function hpkeSeal(
  recipientPublic: Uint8Array,
  info: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
  options: HpkeTestOptions = {},
): Promise<{ enc: Bytes; ciphertext: Bytes }> {
  if (recipientPublic.length !== X25519_PUBLIC_BYTES) throw new EncodingError('HPKE recipient key must be 32 bytes');
  let recipientPublicKey: CryptoKey;
  try {
    recipientPublicKey = await importBoxKey(recipientPublic);
  } catch {
    throw new EncodingError('HPKE recipient key is not a valid X25519 key');
  }
  const ephemeral = await ephemeralKeyPair(options.ephemeralIkm);
  let dh: Uint8Array;
  try {
    dh = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: recipientPublicKey }, ephemeral.privateKey, 256));
  } catch (cause) {
    // WebCrypto refuses low-order points, whose shared secret would be all zero (RFC 9180 §7.1.4).
    throw new EncodingError(`HPKE seal failed${cause instanceof Error ? `: ${cause.message}` : ''}`);
  }
  const eaePrk = labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dh);
  const sharedSecret = labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', concatBytes(ephemeral.publicBytes, recipientPublic), 32);
  const context = concatBytes(Uint8Array.of(0x00), PSK_ID_HASH, labeledExtract(HPKE_SUITE_ID, new Uint8Array(0), 'info_hash', info));
  const secret = labeledExtract(HPKE_SUITE_ID, sharedSecret, 'secret', new Uint8Array(0));
  const key = await subtle.importKey('raw', bytes(labeledExpand(HPKE_SUITE_ID, secret, 'key', context, 16)), 'AES-GCM', false, ['encrypt']);
  const baseNonce = bytes(labeledExpand(HPKE_SUITE_ID, secret, 'base_nonce', context, 12));
  const ciphertext = await subtle.encrypt({ name: 'AES-GCM', iv: baseNonce, additionalData: bytes(aad) }, key, bytes(plaintext));
  return { enc: ephemeral.publicBytes, ciphertext: new Uint8Array(ciphertext) };
}

/**
 * HPKE single-shot open (RFC 9180 §6.1, mode_base).
 * @throws {DecryptError} when the box was not sealed to this key with this info, or was altered.
 */
export async function hpkeOpen(
  recipient: { privateKey: CryptoKey; publicKey: CryptoKey },
  enc: Uint8Array,
  info: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
  what = 'sealed key',
): Promise<Bytes> {
  if (enc.length !== HPKE_ENC_BYTES) throw new DecryptError(what);
  try {
    const pt = await hpkeSuite.open(
      { recipientKey: { privateKey: recipient.privateKey, publicKey: recipient.publicKey }, enc: bytes(enc), info: bytes(info) },
      bytes(ciphertext),
      bytes(aad),
    );
    return new Uint8Array(pt);
  } catch {
    throw new DecryptError(what);
  }
}

/** Derives the deterministic HPKE key pair of RFC 9180 §7.1.3 (tests check the vectors' keys). */
export async function hpkeDeriveKeyPair(ikm: Uint8Array): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; publicBytes: Bytes }> {
  const pair = await hpkeSuite.kem.deriveKeyPair(bytes(ikm));
  return { ...pair, publicBytes: new Uint8Array(await hpkeSuite.kem.serializePublicKey(pair.publicKey)) };
}
