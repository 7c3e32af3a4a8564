/**
 * Question: does validating a 10,000-entry group log with `replayLog` cost at most
 * 1.2× 10,000 Ed25519 verifications? (The issue's row. The log below carries about
 * 1.5 signatures per entry — an acceptance carries the entry's, the invite key's and
 * the new person's chain entry's — so the verifies it really needs are themselves about
 * 1.5× the baseline: that is the floor, printed with the verdict.)
 *
 * The log is built once per run (support/log-builder.ts): `createGroup`, then a seeded
 * mix of invites, acceptances by fresh identities (`acceptInvite`), role changes,
 * rotations and removals, signed by whoever is an admin at that point; the group
 * hovers at up to 64 members. The build and the first (cold) replay are timed and
 * printed separately; neither is part of the measurement.
 *
 * Baseline, same run, alternating rounds: raw WebCrypto Ed25519 verifies with one key
 * imported once, over the log's own signing inputs as messages, in batches of 256
 * with Promise.all (as `log-replay.ts` verifies). For information, two scaled figures:
 * as many batched verifies as the log really carries (an acceptance carries three
 * signatures), and fully serial verifies (2,500 per round, scaled to 10,000).
 *
 * Run: npx tsx bench/log-validation.bench.ts
 */
import { performance } from 'node:perf_hooks';
import { entrySigningInput } from '@conclave/shared/crypto';
import { replayLog } from '@conclave/shared/crypto';
import { fmt, fmtRatio, header, interleaved, median, pairedRatio, printTable, scaled, verdict, type Samples } from './support/harness.ts';
import { buildLog, signatureCount } from './support/log-builder.ts';

const ENTRIES = 10_000;
const BATCH = 256; // log-replay.ts SIGNATURE_BATCH
const SERIAL_SAMPLE = 2_500;
const TARGET = 1.2;
const ROUNDS = 5;

const subtle = globalThis.crypto.subtle;
const n = (x: number) => x.toLocaleString('en-US');

header('log validation', `Question: is replayLog of a ${n(ENTRIES)}-entry log within ${TARGET}× of ${n(ENTRIES)} raw Ed25519 verifies (batches of ${BATCH})?`);
const started = performance.now();

let t = performance.now();
const { entries, mix } = await buildLog(ENTRIES);
const buildMs = performance.now() - t;
t = performance.now();
const replayed = await replayLog(entries);
const coldMs = performance.now() - t;
if (replayed.seq !== ENTRIES - 1) throw new Error(`replay ended at ${replayed.seq}`);
const signatures = signatureCount(entries);

console.log(`built ${n(entries.length)} entries in ${(buildMs / 1000).toFixed(1)} s (not measured): ${Object.entries(mix).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`final group: ${replayed.members.size} members, ${replayed.generations.length} generations; ${n(signatures)} signatures to check (${(signatures / entries.length).toFixed(2)} per entry)`);
console.log(`first (cold) replayLog, also the warm-up: ${fmt(coldMs, 0)} ms\n`);

// Baseline fixtures: one Ed25519 key, the log's own signing inputs as messages.
const baseKeys = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
const messages = entries.map((e) => entrySigningInput(e));
const sigs = await Promise.all(messages.map((m) => subtle.sign('Ed25519', baseKeys.privateKey, m)));

async function verifyBatched(count: number): Promise<void> {
  for (let i = 0; i < count; i += BATCH) {
    const end = Math.min(count, i + BATCH);
    const batch: Promise<boolean>[] = [];
    for (let j = i; j < end; j++) batch.push(subtle.verify('Ed25519', baseKeys.publicKey, sigs[j]!, messages[j]!));
    if ((await Promise.all(batch)).includes(false)) throw new Error('baseline: bad signature');
  }
}

async function verifySerial(count: number): Promise<void> {
  for (let j = 0; j < count; j++) if (!(await subtle.verify('Ed25519', baseKeys.publicKey, sigs[j]!, messages[j]!))) throw new Error('baseline: bad signature');
}
await verifyBatched(ENTRIES); // warm-up

const [ours, base, serialPart] = await interleaved(
  [
    { name: 'replayLog', run: () => replayLog(entries) },
    { name: 'batched', run: () => verifyBatched(ENTRIES) },
    { name: 'serial', run: () => verifySerial(SERIAL_SAMPLE) },
  ],
  { rounds: ROUNDS, minMs: 0, warmupMs: 0 },
);
const serial = scaled(serialPart!, ENTRIES / SERIAL_SAMPLE);
const baseSigs = scaled(base!, signatures / ENTRIES);

const ratio = pairedRatio(ours!, base!);
const ok = ratio.median <= TARGET;
const row = (label: string, s: Samples, count: number, vs: string, target: string) => [label, fmt(median(s.msPerOp), 0), fmt((1000 * median(s.msPerOp)) / count, 1), vs, target];
printTable(
  ['case', 'ms', 'µs/item', 'replayLog ÷ this', 'target'],
  [
    row(`replayLog, ${n(ENTRIES)} entries`, ours!, ENTRIES, '—', ''),
    row(`baseline: ${n(ENTRIES)} verifies, batches of ${BATCH}`, base!, ENTRIES, fmtRatio(ratio), `≤ ${TARGET.toFixed(2)}×`),
    row(`info: ${n(signatures)} verifies (the log's count), batched, scaled`, baseSigs, signatures, fmtRatio(pairedRatio(ours!, baseSigs)), '(info)'),
    row(`info: ${n(ENTRIES)} verifies, serial (${n(SERIAL_SAMPLE)} run, scaled)`, serial, ENTRIES, fmtRatio(pairedRatio(ours!, serial)), '(info)'),
  ],
);
console.log(`\n(${ROUNDS} alternating rounds, one full validation per subject per round; total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log(
  `Verdict: ${ok ? 'within target' : 'over target'} — replayLog is ${ratio.median.toFixed(2)}× of ${n(ENTRIES)} batched raw verifies (target ≤ ${TARGET}×; ` +
    `${pairedRatio(ours!, baseSigs).median.toFixed(2)}× of the ${n(signatures)} verifies the log really needs; ` +
    `floor: those verifies alone are ${(signatures / ENTRIES).toFixed(2)}× the baseline's ${n(ENTRIES)}).`,
);
verdict(`replay of a ${n(ENTRIES)}-entry log vs ${n(ENTRIES)} batched Ed25519 verifies`, `${fmtRatio(ratio)} (floor ${(signatures / ENTRIES).toFixed(2)}×: ${n(signatures)} signatures)`, `≤ ${TARGET}×`, ok);
