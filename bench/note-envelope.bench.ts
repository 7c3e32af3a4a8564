/**
 * Question: does a note envelope cost at most 1.5× the raw cryptography it is built on?
 *
 * Subject: `sealNote` (content key, AES-256-GCM of title and body, key wrap under the
 * generation's note key, SHA-256 of both ciphertexts, Ed25519 signature over the
 * canonical envelope) and `openNote` (schema parse, signature check, unwrap, decrypt),
 * with a real identity and the group state and note key of a group from `createGroup`.
 *
 * Baseline, same run: AES-256-GCM encrypt of the same body bytes with WebCrypto (key
 * imported once, fresh nonce) + Ed25519 sign of the ciphertext; for opening, Ed25519
 * verify of that ciphertext + AES-GCM decrypt. Both sides one operation at a time.
 *
 * Run: npx tsx bench/note-envelope.bench.ts
 */
import { createGroup } from '@conclave/shared/crypto';
import { generationKeys } from '@conclave/shared/crypto';
import { generateIdentity } from '@conclave/shared/crypto';
import { newNoteId, openNote, sealNote } from '@conclave/shared/crypto';
import { randomBytes, importAeadKey } from '@conclave/shared/crypto';
import { utf8 } from '@conclave/shared/protocol';
import type { NoteEnvelope } from '@conclave/shared/protocol';
import { fmt, fmtRatio, header, interleaved, median, pairedRatio, printTable, verdict } from './support/harness.ts';

const TARGET = 1.5;
const SIZES = [
  { label: '1 KiB', bytes: 1024 },
  { label: '64 KiB', bytes: 64 * 1024 },
  { label: '1 MiB', bytes: 1024 * 1024 },
];
const ROUNDS = 5;
const MIN_MS = 250;

const subtle = globalThis.crypto.subtle;

/** Printable ASCII of exactly `n` bytes in UTF-8. */
function asciiBody(n: number): string {
  const raw = randomBytes(n);
  let out = '';
  const chunk = 8192;
  for (let i = 0; i < n; i += chunk) out += String.fromCharCode(...raw.subarray(i, i + chunk).map((b) => 32 + (b % 95)));
  return out;
}

header('note envelope', `Question: is sealNote/openNote within ${TARGET}× of raw AES-256-GCM + Ed25519 (WebCrypto) at 1 KiB, 64 KiB and 1 MiB?`);

const identity = await generateIdentity();
const group = await createGroup(identity);
const state = group.state;
// A client imports a generation's note key once and reuses it for every note, as the
// raw baseline imports its AES key once.
const noteKey = await importAeadKey((await generationKeys(group.seed, state.groupId, 0)).noteKey);
const noteKeyFor = () => noteKey;
const title = 'Benchmark note';

const aesKey = await subtle.importKey('raw', randomBytes(32), 'AES-GCM', false, ['encrypt', 'decrypt']);
const signKey = identity.signKeys.privateKey;
const verifyKey = identity.signKeys.publicKey;

async function rawSeal(body: Uint8Array<ArrayBuffer>): Promise<{ iv: Uint8Array<ArrayBuffer>; ct: Uint8Array<ArrayBuffer>; sig: ArrayBuffer }> {
  const iv = randomBytes(12);
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, aesKey, body));
  const sig = await subtle.sign('Ed25519', signKey, ct);
  return { iv, ct, sig };
}

async function rawOpen(sealed: { iv: Uint8Array<ArrayBuffer>; ct: Uint8Array<ArrayBuffer>; sig: ArrayBuffer }): Promise<ArrayBuffer> {
  if (!(await subtle.verify('Ed25519', verifyKey, sealed.sig, sealed.ct))) throw new Error('raw baseline: bad signature');
  return subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv }, aesKey, sealed.ct);
}

const rows: string[][] = [];
const over: string[] = [];
const started = performance.now();

for (const size of SIZES) {
  const body = asciiBody(size.bytes);
  const bodyBytes = utf8(body);
  if (bodyBytes.length !== size.bytes) throw new Error('body size mismatch');
  const noteId = newNoteId();
  const address = { groupId: state.groupId, noteId, version: 1, generation: 0 };

  // Fixtures for the open side, and a correctness check of both paths.
  const envelope: NoteEnvelope = await sealNote(identity, address, noteKey, { title, body });
  const opened = await openNote(envelope, state, { noteId }, noteKeyFor);
  if (opened.body !== body) throw new Error('openNote returned a different body');
  const rawSealed = await rawSeal(bodyBytes);
  if ((await rawOpen(rawSealed)).byteLength !== size.bytes) throw new Error('raw open returned a different body');

  const seal = await interleaved(
    [
      { name: 'sealNote', run: () => sealNote(identity, address, noteKey, { title, body }) },
      { name: 'raw seal', run: () => rawSeal(bodyBytes) },
    ],
    { rounds: ROUNDS, minMs: MIN_MS },
  );
  const open = await interleaved(
    [
      { name: 'openNote', run: () => openNote(envelope, state, { noteId }, noteKeyFor) },
      { name: 'raw open', run: () => rawOpen(rawSealed) },
    ],
    { rounds: ROUNDS, minMs: MIN_MS },
  );

  for (const [op, [ours, raw]] of [
    ['seal+sign', seal],
    ['verify+open', open],
  ] as const) {
    const ratio = pairedRatio(ours!, raw!);
    const ok = ratio.median <= TARGET;
    if (!ok) over.push(`${op} ${size.label} (${ratio.median.toFixed(2)}×)`);
    verdict(`note ${op}, ${size.label}, vs raw AES-GCM + Ed25519`, fmtRatio(ratio), `≤ ${TARGET}×`, ok);
    rows.push([
      `${size.label} ${op}`,
      fmt(1000 / median(ours!.msPerOp), 0),
      fmt(1000 / median(raw!.msPerOp), 0),
      fmt(median(ours!.msPerOp), 3),
      fmt(median(raw!.msPerOp), 3),
      fmtRatio(ratio),
      `≤ ${TARGET.toFixed(2)}×`,
      ok ? 'within' : 'OVER',
    ]);
  }
}

printTable(['case', 'ours ops/s', 'raw ops/s', 'ours ms/op', 'raw ms/op', 'ratio ours/raw', 'target', ''], rows);
console.log(`\n(${ROUNDS} alternating rounds of ≥ ${MIN_MS} ms per subject; total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log(over.length === 0 ? `Verdict: within target (every case ≤ ${TARGET}× raw).` : `Verdict: over target — ${over.join(', ')}; target ≤ ${TARGET}× raw.`);
