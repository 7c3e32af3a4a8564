/**
 * The key file, `identity.json` (mode 0600): the device's display name and public
 * bundle in clear, its two private keys (32-byte Ed25519 and X25519 seeds) sealed under
 * the passphrase (at-rest.ts). The extension keeps non-extractable CryptoKeys in
 * IndexedDB; a command-line device must keep its keys in a file, so it keeps the seeds
 * and rebuilds the CryptoKeys with `keyPairFromSeed` each time it runs.
 */
import { z } from 'zod';
import { identityFromKeyPairs, keyPairFromSeed, randomBytes, type DeviceIdentity } from '@conclave/shared/crypto';
import { fromBase64url, toBase64url } from '@conclave/shared/protocol';
import { DEFAULT_KDF, deriveAtRestKeys, KDF_BOUNDS, newSalt, open, seal, type AtRestKeys, type KdfParams } from './at-rest.ts';
import { CliError, EXIT } from './errors.ts';
import { readIfExists, writeAtomic } from './files.ts';

const FORMAT = 'conclave-cli-identity/2';
/** Key files before the display name and KDF parameters were bound: still opened, rewritten as /2. */
const FORMAT_V1 = 'conclave-cli-identity/1';

const keyFileSchema = z.strictObject({
  format: z.union([z.literal(FORMAT), z.literal(FORMAT_V1)]),
  displayName: z.string().min(1).max(80),
  fingerprint: z.string().regex(/^[a-z2-7]{52}$/),
  bundle: z.record(z.string(), z.unknown()),
  createdAt: z.number().int(),
  // Bounded: a damaged or planted file must not make the CLI allocate 4 GiB or spin for
  // hours before the passphrase is even checked (docs/CLI.md "The passphrase").
  kdf: z.strictObject({
    alg: z.literal('argon2id'),
    m: z.number().int().min(KDF_BOUNDS.m.min).max(KDF_BOUNDS.m.max),
    t: z.number().int().min(KDF_BOUNDS.t.min).max(KDF_BOUNDS.t.max),
    p: z.number().int().min(KDF_BOUNDS.p.min).max(KDF_BOUNDS.p.max),
    salt: z.string().regex(/^[A-Za-z0-9_-]{22}$/, '16 bytes, base64url'),
  }),
  sealed: z.string(),
});
export type KeyFile = z.infer<typeof keyFileSchema>;

export interface Unlocked {
  identity: DeviceIdentity;
  displayName: string;
  keys: AtRestKeys;
  file: KeyFile;
}

/**
 * The associated data of the sealed private keys: the format, the fingerprint, the
 * display name and the Argon2id parameters, so none of the clear fields can be changed
 * (a name shown to the person, a cheaper KDF) without the file failing to open.
 */
export function sealedWhat(file: Pick<KeyFile, 'format' | 'fingerprint' | 'displayName' | 'kdf'>): string {
  if (file.format === FORMAT_V1) return `${FORMAT_V1}|${file.fingerprint}`;
  const { alg, m, t, p, salt } = file.kdf;
  return `${FORMAT}|${file.fingerprint}|${JSON.stringify([file.displayName, alg, m, t, p, salt])}`;
}

/** Reads and checks the key file's shape (no passphrase needed). */
export function readKeyFile(path: string): KeyFile {
  const raw = readIfExists(path);
  if (!raw) throw new CliError(EXIT.setup, `this device has no identity yet (no ${path}): run \`conclave init\` first`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw damaged(path);
  }
  const checked = keyFileSchema.safeParse(parsed);
  if (!checked.success) throw damaged(path);
  return checked.data;
}

function damaged(path: string): CliError {
  return new CliError(EXIT.damaged, `the key file ${path} is damaged (it is not a conclave key file any more). Nothing was changed. Put back a backup of it, or start over with \`conclave init\` in a new state directory (--home) and come back to your groups with new invites or their recovery codes.`);
}

/** Creates a new identity and writes its key file. */
export async function createKeyFile(path: string, displayName: string, passphrase: string, now: number): Promise<Unlocked> {
  const signSeed = randomBytes(32);
  const boxSeed = randomBytes(32);
  const identity = await identityFromKeyPairs(await keyPairFromSeed('Ed25519', signSeed), await keyPairFromSeed('X25519', boxSeed));
  const salt = newSalt();
  const kdf: KdfParams = { ...DEFAULT_KDF, salt: toBase64url(salt) };
  const keys = await deriveAtRestKeys(passphrase, kdf, salt);
  const seeds = new Uint8Array(64);
  seeds.set(signSeed, 0);
  seeds.set(boxSeed, 32);
  const clear = { format: FORMAT, displayName, fingerprint: identity.fingerprint, bundle: identity.bundle as unknown as Record<string, unknown>, createdAt: now, kdf } as const;
  const sealed = await seal(keys.identity, sealedWhat(clear), seeds);
  seeds.fill(0);
  signSeed.fill(0);
  boxSeed.fill(0);
  const file: KeyFile = { ...clear, sealed: toBase64url(sealed) };
  writeAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return { identity, displayName, keys, file };
}

/**
 * Opens the key file with the passphrase and rebuilds the identity.
 * @throws {CliError} `passphrase` when it does not open; `damaged` when the file is not whole.
 */
export async function unlockKeyFile(path: string, passphrase: string): Promise<Unlocked> {
  const file = readKeyFile(path);
  let salt: Uint8Array;
  let sealed: Uint8Array;
  try {
    salt = fromBase64url(file.kdf.salt, 16);
    sealed = fromBase64url(file.sealed);
  } catch {
    throw damaged(path);
  }
  // nonce ‖ two 32-byte seeds ‖ tag: anything else was cut or padded.
  if (sealed.length !== 12 + 64 + 16) throw damaged(path);
  const keys = await deriveAtRestKeys(passphrase, file.kdf, salt);
  let seeds: Uint8Array;
  try {
    seeds = await open(keys.identity, sealedWhat(file), sealed);
  } catch {
    throw new CliError(EXIT.passphrase, 'wrong passphrase: the key file did not open with this passphrase (or the file was altered). Nothing was changed. Type it again (or check CONCLAVE_PASSPHRASE).');
  }
  if (seeds.length !== 64) throw damaged(path);
  const identity = await identityFromKeyPairs(await keyPairFromSeed('Ed25519', seeds.subarray(0, 32)), await keyPairFromSeed('X25519', seeds.subarray(32)));
  if (identity.fingerprint !== file.fingerprint) {
    seeds.fill(0);
    throw damaged(path);
  }
  // A /1 file is sealed again as /2, binding its name and parameters from now on.
  const current = file.format === FORMAT ? file : await reseal(path, { ...file, format: FORMAT }, keys.identity, seeds);
  seeds.fill(0);
  return { identity, displayName: current.displayName, keys, file: current };
}

/** Seals the seeds again for `next` (its clear fields are in the associated data) and writes it. */
async function reseal(path: string, next: KeyFile, identityKey: Uint8Array, seeds: Uint8Array): Promise<KeyFile> {
  const file: KeyFile = { ...next, sealed: toBase64url(await seal(identityKey, sealedWhat(next), seeds)) };
  writeAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return file;
}

/**
 * Rewrites the key file with another display name: the name is bound into the sealed
 * part's associated data, so the private keys are opened and sealed again.
 * @throws {CliError} `passphrase` / `damaged` as `unlockKeyFile`.
 */
export async function renameInKeyFile(path: string, file: KeyFile, identityKey: Uint8Array, displayName: string): Promise<KeyFile> {
  let seeds: Uint8Array;
  try {
    seeds = await open(identityKey, sealedWhat(file), fromBase64url(file.sealed));
  } catch {
    throw new CliError(EXIT.passphrase, 'the key file no longer opens with this passphrase (was it changed meanwhile?). Nothing was changed.');
  }
  try {
    return await reseal(path, { ...file, format: FORMAT, displayName }, identityKey, seeds);
  } finally {
    seeds.fill(0);
  }
}
