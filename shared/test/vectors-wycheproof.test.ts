/**
 * Project Wycheproof vectors through our wrappers in primitives.ts. Every case is
 * judged by its `result` field; failures are collected per group or category and
 * reported with their tcIds, so one broken case does not hide the others.
 *
 * The same file runs in Node (OpenSSL behind WebCrypto) and in Chromium (BoringSSL).
 */
import { describe, expect, it } from 'vitest';
import { aesGcmDecrypt, aesGcmEncrypt, hkdfSha256, keyPairFromSeed, verify, x25519 } from '../src/crypto/primitives.ts';
import { fromHex, toHex } from '../src/protocol/encoding.ts';
import { aesGcm, ed25519, hkdfSha256 as hkdfVectors, x25519 as x25519Vectors } from './vectors/load.ts';

// ---------------------------------------------------------------------------
// Shapes of the vector files (only the fields we read). `result` stays a string
// here and is checked at run time: an unknown verdict fails the test.

interface WycheproofCase {
  tcId: number;
  comment: string;
  flags: string[];
  result: string;
}

interface WycheproofFile<G> {
  algorithm: string;
  numberOfTests: number;
  testGroups: G[];
}

interface AeadCase extends WycheproofCase {
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
}
interface AeadGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
  tests: AeadCase[];
}

interface EddsaCase extends WycheproofCase {
  msg: string;
  sig: string;
}
interface EddsaGroup {
  publicKey: { pk: string };
  tests: EddsaCase[];
}

interface XdhCase extends WycheproofCase {
  public: string;
  private: string;
  shared: string;
}
interface XdhGroup {
  curve: string;
  tests: XdhCase[];
}

interface HkdfCase extends WycheproofCase {
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}
interface HkdfGroup {
  keySize: number;
  tests: HkdfCase[];
}

const aesGcmFile: WycheproofFile<AeadGroup> = aesGcm;
const ed25519File: WycheproofFile<EddsaGroup> = ed25519;
const x25519File: WycheproofFile<XdhGroup> = x25519Vectors;
const hkdfFile: WycheproofFile<HkdfGroup> = hkdfVectors;

// ---------------------------------------------------------------------------
// Helpers

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

/** Runs the call and reports its value, or the `code` of the error it threw. */
async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, code: typeof code === 'string' ? code : `no code (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})` };
  }
}

function describeOutcome(outcome: Outcome<Uint8Array | boolean>): string {
  if (!outcome.ok) return `threw ${outcome.code}`;
  return typeof outcome.value === 'boolean' ? String(outcome.value) : `returned ${toHex(outcome.value)}`;
}

function label(c: WycheproofCase): string {
  return `tcId ${c.tcId} [${c.result}; ${c.flags.join(',')}]${c.comment ? ` "${c.comment}"` : ''}`;
}

/** Runs `task` over `items`, at most `size` at a time, keeping the order. */
async function inChunks<T, R>(items: readonly T[], size: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let at = 0; at < items.length; at += size) out.push(...(await Promise.all(items.slice(at, at + size).map(task))));
  return out;
}

function allCases<C>(file: WycheproofFile<{ tests: C[] }>): C[] {
  return file.testGroups.flatMap((g) => g.tests);
}

// ---------------------------------------------------------------------------
// AES-GCM

/**
 * Our wrapper's domain: 12-byte IVs, 16- or 32-byte keys (AES-128 / AES-256, no
 * AES-192 in the design) and 16-byte tags. Everything else must be refused.
 * Non-96-bit IVs are where GCM breaks: they go through GHASH to become the counter
 * block, which is what the CounterWrap/LongIv vectors probe, and a zero-length IV
 * leaks the authentication key (CVE-2017-7822). Short tags weaken authentication.
 */
function aesGcmInDomain(group: AeadGroup, c: AeadCase): boolean {
  const ivBytes = c.iv.length / 2;
  const keyBytes = c.key.length / 2;
  const tagBytes = c.tag.length / 2;
  return group.ivSize === 96 && ivBytes === 12 && (keyBytes === 16 || keyBytes === 32) && group.tagSize === 128 && tagBytes === 16;
}

async function judgeAesGcm(group: AeadGroup, c: AeadCase): Promise<string | null> {
  const key = fromHex(c.key);
  const iv = fromHex(c.iv);
  const aad = fromHex(c.aad);
  const msg = fromHex(c.msg);
  const sealed = fromHex(c.ct + c.tag);

  if (!aesGcmInDomain(group, c)) {
    // Outside the domain the verdict does not matter: the wrapper must refuse the
    // parameters before any AES runs (EncodingError), for both directions.
    const enc = await attempt(() => aesGcmEncrypt(key, iv, msg, aad));
    const dec = await attempt(() => aesGcmDecrypt(key, iv, sealed, aad));
    if (c.tag.length / 2 !== 16) {
      // A tag size the wrapper cannot express: it always makes and checks 16-byte tags.
      // The case must not decrypt, and encryption must not produce this ct ‖ tag.
      if (dec.ok) return `out of domain (tag ${c.tag.length / 2} bytes) but decrypt ${describeOutcome(dec)}`;
      if (enc.ok && toHex(enc.value) === c.ct + c.tag) return 'out of domain (tag size) but encrypt produced ct ‖ tag';
      return null;
    }
    if (enc.ok || enc.code !== 'ENCODING') return `out of domain but encrypt ${describeOutcome(enc)} (expected ENCODING)`;
    if (dec.ok || dec.code !== 'ENCODING') return `out of domain but decrypt ${describeOutcome(dec)} (expected ENCODING)`;
    return null;
  }

  switch (c.result) {
    case 'valid': {
      const enc = await attempt(() => aesGcmEncrypt(key, iv, msg, aad));
      if (!enc.ok || toHex(enc.value) !== c.ct + c.tag) return `encrypt ${describeOutcome(enc)}, expected ${c.ct + c.tag}`;
      const dec = await attempt(() => aesGcmDecrypt(key, iv, sealed, aad));
      if (!dec.ok || toHex(dec.value) !== c.msg) return `decrypt ${describeOutcome(dec)}, expected ${c.msg}`;
      return null;
    }
    case 'invalid': {
      // Modified tags and the like: the wrapper must refuse to open them.
      const dec = await attempt(() => aesGcmDecrypt(key, iv, sealed, aad));
      if (dec.ok || (dec.code !== 'DECRYPT' && dec.code !== 'ENCODING')) return `decrypt ${describeOutcome(dec)}, expected DECRYPT or ENCODING`;
      return null;
    }
    case 'acceptable': {
      // Wycheproof allows either outcome. We accept both, but an outcome must be a
      // clean one: decrypt gives exactly msg, or it throws DECRYPT/ENCODING; it must
      // never crash with a foreign error or return other bytes. (This file version
      // has no acceptable AES-GCM cases; the branch is kept for future versions.)
      const dec = await attempt(() => aesGcmDecrypt(key, iv, sealed, aad));
      if (dec.ok ? toHex(dec.value) !== c.msg : dec.code !== 'DECRYPT' && dec.code !== 'ENCODING') return `acceptable case: decrypt ${describeOutcome(dec)}`;
      return null;
    }
    default:
      return `unknown result ${c.result}`;
  }
}

describe(`Wycheproof AES-GCM (${aesGcmFile.numberOfTests} cases)`, () => {
  it('the file is the AEAD file we expect, and both domains are exercised', () => {
    expect(aesGcmFile.algorithm).toBe('AES-GCM');
    const cases = aesGcmFile.testGroups.flatMap((g) => g.tests.map((c) => aesGcmInDomain(g, c)));
    expect(cases.length).toBe(aesGcmFile.numberOfTests);
    // Counts for this vector version: 133 cases in our domain, 183 outside it.
    expect(cases.filter(Boolean).length).toBe(133);
    expect(cases.filter((x) => !x).length).toBe(183);
  });

  it.each(aesGcmFile.testGroups.map((g, i) => [i, g.ivSize, g.keySize, g.tagSize, aesGcmInDomain(g, g.tests[0]!) ? 'in domain' : 'refused', g] as const))(
    'group %i: iv %i bits, key %i bits, tag %i bits (%s)',
    async (_i, _iv, _key, _tag, _domain, group) => {
      const verdicts = await Promise.all(group.tests.map(async (c) => [c, await judgeAesGcm(group, c)] as const));
      const failures = verdicts.filter(([, why]) => why !== null).map(([c, why]) => `${label(c)}: ${why}`);
      expect(failures).toEqual([]);
    },
  );

  it('a 24-byte key, a 16-byte IV and an empty IV are refused with ENCODING', async () => {
    // Direct checks, independent of the vector file's contents.
    const zero = (n: number) => new Uint8Array(n);
    expect(await attempt(() => aesGcmEncrypt(zero(24), zero(12), zero(1), zero(0)))).toEqual({ ok: false, code: 'ENCODING' });
    expect(await attempt(() => aesGcmEncrypt(zero(16), zero(16), zero(1), zero(0)))).toEqual({ ok: false, code: 'ENCODING' });
    expect(await attempt(() => aesGcmDecrypt(zero(32), zero(0), zero(17), zero(0)))).toEqual({ ok: false, code: 'ENCODING' });
  });
});

// ---------------------------------------------------------------------------
// Ed25519

/**
 * Why each category of invalid signature must be refused (noble-curves style).
 * A test below fails if the vector file has an invalid category not listed here.
 */
const ED25519_INVALID_CATEGORIES: Record<string, string> = {
  // r and s set to 0, 1, L, p, … : accepting any of them would allow forgeries without the key.
  InvalidSignature: 'special values for r and s',
  // Empty, 32-byte or 62-byte signatures: a verifier that reads past the end could accept a forgery.
  TruncatedSignature: 'truncated signature',
  // Extra bytes before/after: signatures are exactly 64 bytes (RFC 8032 §5.1.7).
  SignatureWithGarbage: 'signature with extra bytes',
  // A zero byte removed: the signature is no longer 64 bytes.
  CompressedSignature: 'signature with a byte dropped',
  // R is not the canonical encoding of a point, or does not decode at all (RFC 8032 §5.1.3).
  InvalidEncoding: 'non-canonical or undecodable R',
  // s ≥ L: the signature must be unique, so s must be reduced (RFC 8032 §5.1.7).
  SignatureMalleability: 's not in [0, L)',
  // A known-invalid signature (s just above the bound).
  InvalidKtv: 'known invalid signature',
};

interface EddsaJudged {
  c: EddsaCase;
  outcome: Outcome<boolean>;
}

let ed25519Judged: Promise<EddsaJudged[]> | undefined;

/** Verifies every case once; the tests below look at slices of the outcome. */
function judgeEd25519(): Promise<EddsaJudged[]> {
  ed25519Judged ??= Promise.all(
    ed25519File.testGroups.flatMap((g) =>
      g.tests.map(async (c) => ({ c, outcome: await attempt(() => verify(fromHex(g.publicKey.pk), fromHex(c.sig), fromHex(c.msg))) })),
    ),
  );
  return ed25519Judged;
}

/** verify never throws: a malformed key or signature is simply false. */
function ed25519Failure({ c, outcome }: EddsaJudged): string | null {
  if (!outcome.ok) return `verify threw ${outcome.code}`;
  switch (c.result) {
    case 'valid':
      return outcome.value === true ? null : 'valid signature not accepted';
    case 'invalid':
      return outcome.value === false ? null : 'invalid signature accepted';
    case 'acceptable':
      // Either verdict is allowed (none in this file version); verify returned a boolean.
      return null;
    default:
      return `unknown result ${c.result}`;
  }
}

function primaryFlag(c: WycheproofCase): string {
  return c.flags.find((f) => f in ED25519_INVALID_CATEGORIES) ?? c.flags[0] ?? '(no flag)';
}

const ed25519InvalidFlags = [...new Set(allCases(ed25519File).filter((c) => c.result === 'invalid').map(primaryFlag))];

describe(`Wycheproof Ed25519 (${ed25519File.numberOfTests} cases)`, () => {
  it('every case is judged, and every invalid category is documented', async () => {
    expect(ed25519File.algorithm).toBe('EDDSA');
    expect((await judgeEd25519()).length).toBe(ed25519File.numberOfTests);
    expect(ed25519InvalidFlags.filter((f) => !(f in ED25519_INVALID_CATEGORIES))).toEqual([]);
  });

  it('valid signatures verify', async () => {
    const valid = (await judgeEd25519()).filter((j) => j.c.result === 'valid');
    expect(valid.length).toBeGreaterThan(0);
    expect(valid.map((j) => [label(j.c), ed25519Failure(j)]).filter(([, why]) => why !== null)).toEqual([]);
  });

  it.each(ed25519InvalidFlags)('invalid signatures are refused: %s', async (flag) => {
    const cases = (await judgeEd25519()).filter((j) => j.c.result === 'invalid' && primaryFlag(j.c) === flag);
    expect(cases.length).toBeGreaterThan(0);
    const failures = cases.map((j) => [label(j.c), ed25519Failure(j)]).filter(([, why]) => why !== null);
    expect(failures, ED25519_INVALID_CATEGORIES[flag]).toEqual([]);
  });

  it('no other verdicts', async () => {
    const other = (await judgeEd25519()).filter((j) => j.c.result !== 'valid' && j.c.result !== 'invalid');
    expect(other.map((j) => [label(j.c), ed25519Failure(j)]).filter(([, why]) => why !== null)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// X25519

interface XdhJudged {
  c: XdhCase;
  outcome: Outcome<Uint8Array>;
}

let x25519Judged: Promise<XdhJudged[]> | undefined;

/** Computes every case once, 64 at a time (518 cases, each four WebCrypto calls). */
function judgeX25519(): Promise<XdhJudged[]> {
  x25519Judged ??= inChunks(allCases(x25519File), 64, async (c) => ({
    c,
    outcome: await attempt(async () => x25519((await keyPairFromSeed('X25519', fromHex(c.private))).privateKey, fromHex(c.public))),
  }));
  return x25519Judged;
}

const ZERO_SHARED = '00'.repeat(32);

function x25519Failure({ c, outcome }: XdhJudged): string | null {
  const equal = outcome.ok && toHex(outcome.value) === c.shared;
  switch (c.result) {
    case 'valid':
      return equal ? null : `${describeOutcome(outcome)}, expected ${c.shared}`;
    case 'acceptable':
      // Low-order points, non-canonical public keys and points on the twist: RFC 7748
      // allows computing them or refusing them. Refusing must be our EncodingError;
      // computing must give exactly the vector's shared secret.
      if (equal) return null;
      return !outcome.ok && outcome.code === 'ENCODING' ? null : `${describeOutcome(outcome)}, expected ${c.shared} or ENCODING`;
    case 'invalid':
      // None in this file version: must be refused, or at least not give `shared`.
      return equal ? 'invalid case computed the listed shared secret' : null;
    default:
      return `unknown result ${c.result}`;
  }
}

describe(`Wycheproof X25519 (${x25519File.numberOfTests} cases)`, () => {
  it('every case is judged', async () => {
    expect(x25519File.algorithm).toBe('XDH');
    expect(x25519File.testGroups.every((g) => g.curve === 'curve25519')).toBe(true);
    expect((await judgeX25519()).length).toBe(x25519File.numberOfTests);
  });

  it.each(['valid', 'acceptable', 'invalid'])('%s cases', async (result) => {
    const judged = (await judgeX25519()).filter((j) => j.c.result === result);
    if (result !== 'invalid') expect(judged.length).toBeGreaterThan(0);
    expect(judged.map((j) => [label(j.c), x25519Failure(j)]).filter(([, why]) => why !== null)).toEqual([]);
  });

  it('only vectors whose shared secret is all zero are refused; those always are', async () => {
    // Observed in Node 20 (OpenSSL) and Chromium (BoringSSL): WebCrypto refuses exactly
    // the low-order public keys (an all-zero result, RFC 7748 §6.1) and computes every
    // other acceptable case (twist points, non-canonical u-coordinates) correctly. An
    // all-zero shared secret must never reach the protocol.
    const judged = await judgeX25519();
    const refused = judged.filter((j) => !j.outcome.ok).map((j) => j.c.tcId);
    const zeroShared = judged.filter((j) => j.c.shared === ZERO_SHARED).map((j) => j.c.tcId);
    expect(zeroShared.length).toBeGreaterThan(0);
    expect(refused).toEqual(zeroShared);
    expect(judged.filter((j) => j.outcome.ok && toHex(j.outcome.value) === ZERO_SHARED).map((j) => j.c.tcId)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// HKDF-SHA256

async function judgeHkdf(c: HkdfCase): Promise<string | null> {
  const outcome = await attempt(() => hkdfSha256(fromHex(c.ikm), fromHex(c.salt), fromHex(c.info), c.size));
  switch (c.result) {
    case 'valid':
      return outcome.ok && toHex(outcome.value) === c.okm ? null : `${describeOutcome(outcome)}, expected ${c.okm}`;
    case 'invalid':
      // SizeTooLarge: more than 255 × 32 bytes must be refused before WebCrypto runs.
      return !outcome.ok && outcome.code === 'ENCODING' ? null : `${describeOutcome(outcome)}, expected ENCODING`;
    case 'acceptable':
      // None in this file version: either outcome, but a clean one.
      return (outcome.ok && toHex(outcome.value) === c.okm) || (!outcome.ok && outcome.code === 'ENCODING') ? null : describeOutcome(outcome);
    default:
      return `unknown result ${c.result}`;
  }
}

describe(`Wycheproof HKDF-SHA256 (${hkdfFile.numberOfTests} cases)`, () => {
  it('every case is in a group', () => {
    expect(hkdfFile.algorithm).toBe('HKDF-SHA-256');
    expect(allCases(hkdfFile).length).toBe(hkdfFile.numberOfTests);
  });

  it.each(hkdfFile.testGroups.map((g, i) => [i, g.keySize, g] as const))('group %i: ikm %i bits', async (_i, _keySize, group) => {
    const verdicts = await Promise.all(group.tests.map(async (c) => [c, await judgeHkdf(c)] as const));
    const failures = verdicts.filter(([, why]) => why !== null).map(([c, why]) => `${label(c)}: ${why}`);
    expect(failures).toEqual([]);
  });

  it('the maximum output size, 8160 bytes, is computed and 8161 is refused', async () => {
    const zero = new Uint8Array(16);
    expect((await hkdfSha256(zero, zero, zero, 8160)).length).toBe(8160);
    expect(await attempt(() => hkdfSha256(zero, zero, zero, 8161))).toEqual({ ok: false, code: 'ENCODING' });
  });
});
