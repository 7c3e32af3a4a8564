/**
 * Secrets at rest (docs/CLI.md "The passphrase"): the passphrase is stretched with
 * Argon2id (RFC 9106; @noble/hashes) into a master key, from which HKDF derives one key
 * for the device's private keys and one for the group records (seeds, validated logs)
 * and names. Everything secret the CLI keeps is AES-256-GCM under one of them, bound by
 * its associated data to what it is (a group file cannot be swapped for another).
 * Same rule as the extension: no secret in clear at rest.
 */
import { argon2id } from '@noble/hashes/argon2.js';
import { createHash } from 'node:crypto';
import { aeadOpen, aeadSeal, hkdfSha256, randomBytes } from '@conclave/shared/crypto';
import { utf8 } from '@conclave/shared/protocol';

/**
 * Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane), about
 * half a second in JavaScript. Kept in the key file, so a later version can raise them
 * for new files and still open old ones.
 */
export interface KdfParams {
  alg: 'argon2id';
  /** Memory in KiB. */
  m: number;
  t: number;
  p: number;
  /** base64url, 16 bytes. */
  salt: string;
}

export const DEFAULT_KDF = { alg: 'argon2id', m: 19 * 1024, t: 2, p: 1 } as const;

/**
 * What a key file may ask for (inclusive): up to 1 GiB (in KiB), 10 passes, 4 lanes.
 * Anything else is a damaged file, refused before any derivation.
 */
export const KDF_BOUNDS = {
  m: { min: 8 * 1024, max: 1024 * 1024 },
  t: { min: 1, max: 10 },
  p: { min: 1, max: 4 },
} as const;

/** Domain-separation labels of the CLI's keys at rest (the protocol's own live in shared/src/crypto/labels.ts). */
export const AT_REST_LABELS = {
  identityKey: 'conclave/cli/v1/identity-key',
  storeKey: 'conclave/cli/v1/store-key',
} as const;

export interface AtRestKeys {
  /** Seals the device's private keys (identity.json). */
  identity: Uint8Array;
  /** Seals group records and names (groups/*.sealed, names.sealed). */
  store: Uint8Array;
}

export function newSalt(): Uint8Array {
  return randomBytes(16);
}

/**
 * Master keys already stretched in this process, by salt and a hash of the passphrase:
 * a process that runs several commands (tests, `notes put --batch`) pays the KDF once.
 */
const stretched = new Map<string, Promise<AtRestKeys>>();

export function deriveAtRestKeys(passphrase: string, params: KdfParams, salt: Uint8Array): Promise<AtRestKeys> {
  const memo = `${params.m}/${params.t}/${params.p}/${Buffer.from(salt).toString('base64')}/${createHash('sha256').update(passphrase).digest('base64')}`;
  let keys = stretched.get(memo);
  if (!keys) {
    keys = (async () => {
      const master = argon2id(utf8(passphrase.normalize('NFC')), salt, { t: params.t, m: params.m, p: params.p, dkLen: 32 });
      const [identity, store] = await Promise.all([
        hkdfSha256(master, new Uint8Array(0), utf8(AT_REST_LABELS.identityKey), 32),
        hkdfSha256(master, new Uint8Array(0), utf8(AT_REST_LABELS.storeKey), 32),
      ]);
      master.fill(0);
      return { identity, store };
    })();
    if (stretched.size >= 8) stretched.clear();
    stretched.set(memo, keys);
  }
  return keys;
}

/** AES-256-GCM under `key`, bound to `what` (associated data). */
export function seal(key: Uint8Array, what: string, plaintext: Uint8Array): Promise<Uint8Array> {
  return aeadSeal(key, plaintext, utf8(what));
}

/** @throws {DecryptError} wrong key, or the file was altered or swapped. */
export function open(key: Uint8Array, what: string, sealed: Uint8Array): Promise<Uint8Array> {
  return aeadOpen(key, sealed, utf8(what), what);
}
