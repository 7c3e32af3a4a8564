/**
 * The byte encodings everything signed or hashed relies on (DESIGN §2, §3):
 * canonical JSON (RFC 8785 for the protocol's subset), strict base64url, base32,
 * human-typable secret codes, safety numbers, fingerprints and public bundles.
 * Runs in Node and in Chromium: the native base64 paths differ between the two.
 */
import { base32nopad, base64urlnopad } from '@scure/base';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EncodingError, SignatureError } from '../src/crypto/errors.ts';
import { fingerprintOf, generateIdentity, parseBundle, type DeviceIdentity } from '../src/crypto/identity.ts';
import { randomBytes } from '../src/crypto/primitives.ts';
import { normaliseTypedSafetyNumber, safetyNumber, safetyNumberGroups } from '../src/crypto/safety-number.ts';
import { CODE_SECRET_BYTES, encodeSecretCode, newSecret, parseSecretCode, type CodeKind } from '../src/crypto/secret-code.ts';
import { canonicalJson, labelled } from '../src/protocol/canonical.ts';
import { equalBytes, fromBase32, fromBase64url, fromUtf8, toBase32, toBase64url, utf8 } from '../src/protocol/encoding.ts';
import { fingerprintSchema, type GroupId } from '../src/protocol/ids.ts';

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

// ---------------------------------------------------------------------------
// An independent reference for RFC 8785 over the protocol's subset (objects,
// arrays, strings, booleans, null, safe integers), written from the RFC's text.

/** RFC 8785 §3.2.2.2: ", \ and U+0000–U+001F escaped (short forms where JSON has them, else \u00xx lower-case); everything else as is. */
function jcsString(s: string): string {
  const short: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (short[unit] !== undefined) out += short[unit];
    else if (unit < 0x20) out += `\\u${unit.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** RFC 8785 §3.2.3: members sorted by their names as arrays of UTF-16 code units. */
function compareUtf16(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function jcs(value: unknown): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return Object.is(value, -0) ? '0' : String(value);
  if (typeof value === 'string') return jcsString(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareUtf16(a, b));
  return `{${entries.map(([k, v]) => `${jcsString(k)}:${jcs(v)}`).join(',')}}`;
}

/** Strings of any code point (no lone surrogates, as RFC 8785 requires I-JSON), biased to the interesting ones. */
const jsonText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u0080', '\u2028', '\u2029', '\ufeff', '€', '😀', '\ufb33'),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 24,
});

const { canonical: canonicalValue } = fc.letrec<{ canonical: unknown }>((tie) => ({
  canonical: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.integer({ min: -1000, max: 1000 }),
    jsonText,
    fc.array(tie('canonical'), { maxLength: 5 }),
    fc.dictionary(jsonText, tie('canonical'), { maxKeys: 6, noNullPrototype: true }),
  ),
}));

/** The same value with every object's members inserted in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>).reverse()) {
      Object.defineProperty(out, k, { value: reversedKeys(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

describe('canonicalJson (RFC 8785 subset)', () => {
  it('does not depend on the order members were inserted in, at any depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}');
    expect(canonicalJson({ a: { c: 'x', d: [1, { y: null, z: true }] }, b: 1 })).toBe(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } }));
    fc.assert(
      fc.property(canonicalValue, (value) => {
        expect(canonicalJson(reversedKeys(value))).toBe(canonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });

  it('matches an independent RFC 8785 serialiser and JSON.parse gives the value back', () => {
    fc.assert(
      fc.property(canonicalValue, (value) => {
        const text = canonicalJson(value);
        expect(text).toBe(jcs(value));
        expect(JSON.parse(text)).toEqual(value);
        // Canonical text is a fixed point: parsing and re-encoding changes nothing.
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('serialises strings as RFC 8785 §3.2.2.2 and JSON.stringify do', () => {
    // The RFC's own example of string escaping.
    const input = String.raw`"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"`;
    expect(canonicalJson(JSON.parse(input))).toBe(String.raw`"€$\u000f\nA'B\"\\\\\"/"`);
    expect(canonicalJson('\u2028\u2029\u007f')).toBe('"\u2028\u2029\u007f"');
    expect(canonicalJson('\u0000\u001f')).toBe('"\\u0000\\u001f"');
    fc.assert(
      fc.property(jsonText, (s) => {
        expect(canonicalJson(s)).toBe(JSON.stringify(s));
        expect(canonicalJson(s)).toBe(jcsString(s));
      }),
      { numRuns: 500 },
    );
  });

  it('sorts members by UTF-16 code units as in RFC 8785 §3.2.3', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // A surrogate pair (U+1F600 as D83D DE00) sorts before U+FB33: code units, not code points.
    expect(canonicalJson({ '\ufb33': 1, '\u{1f600}': 2 })).toBe('{"\u{1f600}":2,"\ufb33":1}');
  });

  it('writes safe integers as ECMAScript does and -0 as 0', () => {
    expect(canonicalJson([0, -0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER])).toBe('[0,0,1,-1,9007199254740991,-9007199254740991]');
    expect(canonicalJson({ at: 1_700_000_000_000 })).toBe('{"at":1700000000000}');
  });

  it('omits undefined members, like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ a: { b: undefined } })).toBe('{"a":{}}');
  });

  it('refuses everything outside the subset with EncodingError', () => {
    class Thing {
      x = 1;
    }
    const refused: unknown[] = [
      1.5,
      -0.1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_SAFE_INTEGER + 1,
      1e21,
      [1, undefined],
      [undefined],
      { a: [1, 2.5] },
      new Map([['a', 1]]),
      new Set([1]),
      new Uint8Array([1, 2]),
      new ArrayBuffer(2),
      new Date(0),
      10n,
      Symbol('s'),
      () => 1,
      undefined,
      Object.create(null),
      new Thing(),
      { nested: { deeper: new Uint8Array(1) } },
    ];
    for (const value of refused) {
      expect(() => canonicalJson(value), String(typeof value)).toThrow(EncodingError);
      expect(() => labelled('conclave/v1/test', value)).toThrow(EncodingError);
    }
  });

  it('names where the refused value sits', () => {
    expect(() => canonicalJson({ a: [0, { b: 0.5 }] })).toThrow(/\$\.a\[1\]\.b/);
  });

  it('labels are label ‖ 0x00 ‖ canonical UTF-8', () => {
    const bytes = labelled('conclave/v1/x', { b: 'é', a: 1 });
    expect(equalBytes(bytes, new Uint8Array([...utf8('conclave/v1/x'), 0, ...utf8('{"a":1,"b":"é"}')]))).toBe(true);
    expect(fromUtf8(bytes.subarray('conclave/v1/x'.length + 1))).toBe('{"a":1,"b":"é"}');
  });
});

// ---------------------------------------------------------------------------

describe('base64url', () => {
  it('round-trips any bytes and agrees with @scure/base', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const text = toBase64url(data);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(text).toBe(base64urlnopad.encode(data));
        expect(text.length).toBe(Math.ceil((data.length * 4) / 3));
        expect(Array.from(fromBase64url(text))).toEqual(Array.from(data));
        expect(fromBase64url(text, data.length).length).toBe(data.length);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips views on larger buffers', () => {
    const big = randomBytes(64);
    const view = big.subarray(5, 40);
    expect(Array.from(fromBase64url(toBase64url(view)))).toEqual(Array.from(view));
    expect(toBase64url(view)).toBe(base64urlnopad.encode(view));
  });

  it('round-trips 1 MiB', () => {
    const data = randomBytes(1024 * 1024);
    const text = toBase64url(data);
    expect(text.length).toBe(Math.ceil((data.length * 4) / 3));
    expect(equalBytes(fromBase64url(text, data.length), data)).toBe(true);
    expect(text).toBe(base64urlnopad.encode(data));
    // One more byte: the length is no longer a multiple of three.
    const odd = randomBytes(1024 * 1024 + 1);
    expect(equalBytes(fromBase64url(toBase64url(odd), odd.length), odd)).toBe(true);
  });

  it('refuses padding', () => {
    expect(() => fromBase64url('AA==')).toThrow(EncodingError);
    expect(() => fromBase64url('AAA=')).toThrow(EncodingError);
    expect(() => fromBase64url('AAAA====')).toThrow(EncodingError);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom('=', '=='), (data, pad) => {
        expect(() => fromBase64url(toBase64url(data) + pad)).toThrow(EncodingError);
      }),
    );
  });

  it('refuses non-canonical trailing bits (one byte string, one text)', () => {
    expect(Array.from(fromBase64url('AA'))).toEqual([0]);
    expect(() => fromBase64url('AB')).toThrow(EncodingError);
    expect(() => fromBase64url('AAB')).toThrow(EncodingError);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }).filter((d) => d.length % 3 !== 0), fc.nat(), (data, pick) => {
        const text = toBase64url(data);
        const strayBits = data.length % 3 === 1 ? 4 : 2;
        const last = B64U.indexOf(text[text.length - 1]!);
        expect(last & ((1 << strayBits) - 1)).toBe(0);
        const stray = 1 + (pick % ((1 << strayBits) - 1));
        const altered = text.slice(0, -1) + B64U[last | stray];
        expect(() => fromBase64url(altered)).toThrow(EncodingError);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses characters outside the URL-safe alphabet', () => {
    for (const text of ['A+', 'A/', '+/+/', 'AA AA', 'AA\nAA', 'AA.A', 'AAé', 'AA\u0000', ' AAAA', 'AAAA ']) {
      expect(() => fromBase64url(text), JSON.stringify(text)).toThrow(EncodingError);
    }
    const bad = fc.constantFrom('+', '/', '=', ' ', '\n', '\t', '.', '%', '*', 'é', '\u0000', '\u00ff', '😀');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(), bad, (data, at, ch) => {
        const text = toBase64url(data);
        const i = at % (text.length + 1);
        expect(() => fromBase64url(text.slice(0, i) + ch + text.slice(i))).toThrow(EncodingError);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a text whose length cannot be base64 (length ≡ 1 mod 4)', () => {
    for (const text of ['A', 'AAAAA', 'AAAAAAAAA']) expect(() => fromBase64url(text)).toThrow(EncodingError);
  });

  it('any text over the alphabet is refused or is the one canonical form of its bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...B64U), maxLength: 50 }), (text) => {
        let decoded: Uint8Array;
        try {
          decoded = fromBase64url(text);
        } catch (error) {
          expect(error).toBeInstanceOf(EncodingError);
          return;
        }
        expect(toBase64url(decoded)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the wrong expected length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (data) => {
        const text = toBase64url(data);
        expect(() => fromBase64url(text, data.length + 1)).toThrow(EncodingError);
        expect(() => fromBase64url(text, data.length - 1)).toThrow(EncodingError);
        expect(fromBase64url(text, data.length).length).toBe(data.length);
      }),
    );
    expect(() => fromBase64url('', 1)).toThrow(EncodingError);
    expect(fromBase64url('', 0).length).toBe(0);
  });
});

describe('base32', () => {
  it('round-trips any bytes in lower case and agrees with @scure/base', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        const text = toBase32(data);
        expect(text).toMatch(/^[a-z2-7]*$/);
        expect(text).toBe(base32nopad.encode(data).toLowerCase());
        expect(Array.from(fromBase32(text))).toEqual(Array.from(data));
        expect(Array.from(fromBase32(text.toUpperCase()))).toEqual(Array.from(data));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses characters outside the alphabet, padding and non-canonical trailing bits', () => {
    for (const text of ['aaaaaaa0', 'aaaaaaa1', 'aaaaaaa8', 'aaaaaaa9', 'ae======', 'aa-a', 'a a']) {
      expect(() => fromBase32(text), text).toThrow(EncodingError);
    }
    // 32 bytes in 52 characters: the last one carries 1 bit and 4 zero bits.
    const data = randomBytes(32);
    const text = toBase32(data);
    const last = B32.indexOf(text[51]!);
    expect(last & 0b1111).toBe(0);
    for (let stray = 1; stray < 16; stray++) expect(() => fromBase32(text.slice(0, 51) + B32[last | stray])).toThrow(EncodingError);
  });
});

// ---------------------------------------------------------------------------

describe('secret codes (invite and recovery)', () => {
  const groupId = toBase64url(randomBytes(16)) as GroupId;
  const kinds: CodeKind[] = ['invite', 'recovery'];

  it('round-trip, in groups of four after the prefix', () => {
    for (const kind of kinds) {
      const secret = newSecret();
      expect(secret.length).toBe(CODE_SECRET_BYTES);
      const code = encodeSecretCode(kind, { groupId, secret });
      expect(code).toMatch(kind === 'invite' ? /^INV1-/ : /^REC1-/);
      const groups = code.split('-').slice(1);
      expect(groups.slice(0, -1).every((g) => g.length === 4)).toBe(true);
      expect(code).toMatch(/^[A-Z0-9-]+$/);
      expect(code.slice(5)).not.toMatch(/[ILOU]/);
      const parsed = parseSecretCode(kind, code);
      expect(parsed.groupId).toBe(groupId);
      expect(equalBytes(parsed.secret, secret)).toBe(true);
    }
  });

  it('round-trip any group id and secret (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.constantFrom(...kinds), (g, secret, kind) => {
        const id = toBase64url(g) as GroupId;
        const parsed = parseSecretCode(kind, encodeSecretCode(kind, { groupId: id, secret }));
        expect(parsed.groupId).toBe(id);
        expect(Array.from(parsed.secret)).toEqual(Array.from(secret));
      }),
      { numRuns: 200 },
    );
  });

  it('ignore case, dashes, spaces and the look-alikes O, I and L', () => {
    for (const kind of kinds) {
      const secret = newSecret();
      const code = encodeSecretCode(kind, { groupId, secret });
      const compact = code.replace(/-/g, '');
      const variants = [
        code.toLowerCase(),
        compact,
        compact.toLowerCase(),
        `  ${code.replace(/-/g, ' ')}  `,
        code.replace(/-/g, '--'),
        code.split('').join(' '),
        code.slice(0, 4) + code.slice(4).replace(/0/g, 'O').replace(/1/g, 'l'),
        code.slice(0, 4) + code.slice(4).replace(/0/g, 'o').replace(/1/g, 'I'),
        `${code.slice(0, 4)}\n${code.slice(4)}`,
      ];
      for (const variant of variants) {
        const parsed = parseSecretCode(kind, variant);
        expect(parsed.groupId, variant).toBe(groupId);
        expect(equalBytes(parsed.secret, secret), variant).toBe(true);
      }
    }
  });

  it('refuse the other kind, a missing prefix, bad characters and wrong lengths with EncodingError', () => {
    const invite = encodeSecretCode('invite', { groupId, secret: newSecret() });
    const recovery = encodeSecretCode('recovery', { groupId, secret: newSecret() });
    expect(() => parseSecretCode('recovery', invite)).toThrow(/invite code/);
    expect(() => parseSecretCode('invite', recovery)).toThrow(/recovery code/);
    expect(() => parseSecretCode('invite', invite.slice(5))).toThrow(EncodingError);
    expect(() => parseSecretCode('invite', `${invite}U`)).toThrow(EncodingError);
    expect(() => parseSecretCode('invite', `${invite}*`)).toThrow(EncodingError);
    expect(() => parseSecretCode('invite', invite.slice(0, -2))).toThrow(EncodingError);
    expect(() => parseSecretCode('invite', `${invite}0000`)).toThrow(EncodingError);
    expect(() => parseSecretCode('invite', '')).toThrow(EncodingError);
    expect(() => encodeSecretCode('invite', { groupId, secret: new Uint8Array(15) })).toThrow(EncodingError);
  });

  it('a one-character typo never parses to the original secret, and the check byte catches almost all', () => {
    const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const secret = newSecret();
    const code = encodeSecretCode('invite', { groupId, secret });
    let caught = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 31 }), (at, shift) => {
        const positions = [...code].map((c, i) => (c !== '-' && i >= 5 ? i : -1)).filter((i) => i >= 0);
        const i = positions[at % positions.length]!;
        const replacement = CROCKFORD[(CROCKFORD.indexOf(code[i]!) + shift) % 32]!;
        const typo = code.slice(0, i) + replacement + code.slice(i + 1);
        runs++;
        try {
          const parsed = parseSecretCode('invite', typo);
          expect(parsed.groupId === groupId && equalBytes(parsed.secret, secret)).toBe(false);
        } catch (error) {
          expect(error).toBeInstanceOf(EncodingError);
          caught++;
        }
      }),
      { numRuns: 400 },
    );
    expect(caught / runs).toBeGreaterThan(0.95);
  });
});

// ---------------------------------------------------------------------------

describe('fingerprints, bundles and safety numbers', () => {
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let carol: DeviceIdentity;

  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  });

  it('a fingerprint is 52 lower-case base32 characters of the SHA-256 of the bundle', async () => {
    for (const id of [alice, bob, carol]) {
      expect(id.fingerprint).toMatch(/^[a-z2-7]{52}$/);
      expect(fingerprintSchema.safeParse(id.fingerprint).success).toBe(true);
      expect(fromBase32(id.fingerprint).length).toBe(32);
      expect(fingerprintOf(id.bundle)).toBe(id.fingerprint);
      const parsed = await parseBundle(structuredClone(id.bundle));
      expect(parsed.fingerprint).toBe(id.fingerprint);
      expect(toBase64url(parsed.signKey)).toBe(id.bundle.signKey);
      expect(toBase64url(parsed.boxKey)).toBe(id.bundle.boxKey);
    }
    expect(new Set([alice.fingerprint, bob.fingerprint, carol.fingerprint]).size).toBe(3);
  });

  it('parseBundle refuses a bundle whose box key (or sign key) was swapped: SignatureError', async () => {
    await expect(parseBundle({ ...alice.bundle, boxKey: bob.bundle.boxKey })).rejects.toBeInstanceOf(SignatureError);
    await expect(parseBundle({ ...alice.bundle, signKey: bob.bundle.signKey })).rejects.toBeInstanceOf(SignatureError);
    await expect(parseBundle({ ...alice.bundle, sig: bob.bundle.sig })).rejects.toBeInstanceOf(SignatureError);
    // The swapped bundle would have a different fingerprint anyway: both change together.
    expect(fingerprintOf({ ...alice.bundle, boxKey: bob.bundle.boxKey })).not.toBe(alice.fingerprint);
  });

  it('parseBundle refuses a malformed bundle: EncodingError', async () => {
    const { sig: _sig, ...unsigned } = alice.bundle;
    const malformed: unknown[] = [
      null,
      'bundle',
      42,
      [],
      {},
      unsigned,
      { ...alice.bundle, v: 1 },
      { ...alice.bundle, extra: 1 },
      { ...alice.bundle, sig: alice.bundle.sig.slice(1) },
      { ...alice.bundle, sig: `${alice.bundle.sig}=` },
      { ...alice.bundle, boxKey: alice.bundle.boxKey.replace(/[A-Za-z0-9_-]$/, '+') },
      { ...alice.bundle, signKey: toBase64url(randomBytes(31)) },
      { ...alice.bundle, boxKey: 12345 },
    ];
    for (const input of malformed) await expect(parseBundle(input), JSON.stringify(input)).rejects.toBeInstanceOf(EncodingError);
  });

  it('the safety number is the same 60 digits on both sides, 12 groups of 5, and differs for another pair', () => {
    const ab = safetyNumber(alice.bundle, bob.bundle);
    const ba = safetyNumber(bob.bundle, alice.bundle);
    expect(ab).toBe(ba);
    expect(ab).toMatch(/^\d{60}$/);
    const groups = safetyNumberGroups(ab);
    expect(groups).toHaveLength(12);
    for (const g of groups) expect(g).toMatch(/^\d{5}$/);
    expect(groups.join('')).toBe(ab);
    const ac = safetyNumber(alice.bundle, carol.bundle);
    const bc = safetyNumber(bob.bundle, carol.bundle);
    expect(new Set([ab, ac, bc]).size).toBe(3);
    // Each device contributes one sorted half: the pair shares alice's half.
    const halves = (n: string) => [n.slice(0, 30), n.slice(30)];
    expect(halves(ab).filter((h) => halves(ac).includes(h))).toHaveLength(1);
    // Deterministic.
    expect(safetyNumber(alice.bundle, bob.bundle)).toBe(ab);
  });

  it('normaliseTypedSafetyNumber accepts spaces, dashes and line breaks, and nothing else', () => {
    const digits = safetyNumber(alice.bundle, bob.bundle);
    const groups = safetyNumberGroups(digits);
    for (const typed of [
      digits,
      groups.join(' '),
      groups.join('-'),
      groups.join('\n'),
      `${groups.slice(0, 4).join(' ')}\r\n${groups.slice(4, 8).join(' ')}\n${groups.slice(8).join('  ')}`,
      `  ${groups.join('\t')}  `,
    ]) {
      expect(normaliseTypedSafetyNumber(typed), JSON.stringify(typed)).toBe(digits);
    }
    expect(normaliseTypedSafetyNumber(digits.slice(1))).toBeNull();
    expect(normaliseTypedSafetyNumber(`${digits}0`)).toBeNull();
    expect(normaliseTypedSafetyNumber(`${digits.slice(0, 59)}a`)).toBeNull();
    expect(normaliseTypedSafetyNumber(groups.join('.'))).toBeNull();
    expect(normaliseTypedSafetyNumber(groups.join('_'))).toBeNull();
    expect(normaliseTypedSafetyNumber('')).toBeNull();
    // Non-ASCII digits are not digits here.
    expect(normaliseTypedSafetyNumber('١'.repeat(60))).toBeNull();
  });
});
