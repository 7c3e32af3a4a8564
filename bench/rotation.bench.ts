/**
 * Question: how long does a key rotation take at 10 / 100 / 1,000 members of one device
 * each, and at 1,000 people of 3 devices each (3,000 boxes); how does it compare with
 * sealing the same number of boxes with stock HPKE; does it stay within 0.3 s at 1,000
 * members and within 0.6 s at 1,000 people × 3 devices on this machine?
 *
 * Subject: `rotateKey` (group-lifecycle.ts): check the current seed, new seed and
 * previous-seed wrap, sign and validate the `rotate` entry, then `sealToRecipients`: an
 * HPKE key box, signed, for every current device but the author's (protocol v3: boxes go
 * to devices, not people), all under one Promise.all. The group (support/people.ts) is
 * made of people with device chains: the creator, the recovery recipient (one key) and
 * the others added with admin `add` entries carrying their chains. With one device each,
 * N members (recovery included) make N−1 boxes; 1,000 people × 3 devices make 3,000
 * (2,999 other devices and the recovery key).
 *
 * Baseline, same run, alternating rounds: as many single-shot seals of a 32-byte seed with
 * the stock `@hpke/core` suite (DhkemX25519HkdfSha256, HkdfSha256, Aes128Gcm), from the
 * recipients' raw public keys (`kem.deserializePublicKey`), under one Promise.all.
 *
 * Run: npx tsx bench/rotation.bench.ts   (about 1–2 minutes; building the 3,000-device
 *      group is untimed and printed)
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { performance } from 'node:perf_hooks';
import { checkSeed, makeRotation } from '@conclave/shared/crypto';
import { rotateKey } from '@conclave/shared/crypto';
import { currentGeneration, nextEntry, seedRecipients, type GroupState } from '@conclave/shared/crypto';
import { type DeviceIdentity } from '@conclave/shared/crypto';
import { sealKeyBox } from '@conclave/shared/crypto';
import { extendLog } from '@conclave/shared/crypto';
import { hpkeSeal, LABELS, randomBytes } from '@conclave/shared/crypto';
import { labelled } from '@conclave/shared/protocol';
import { fromBase64url, type Bytes } from '@conclave/shared/protocol';
import type { KeyBox } from '@conclave/shared/protocol';
import { fmt, fmtRatio, header, interleaved, median, pairedRatio, printTable } from './support/harness.ts';
import { groupOfPeople, makePeople } from './support/people.ts';

/** People (the recovery recipient comes on top) × devices each, and the target where there is one. */
const CASES: Array<{ people: number; devices: number; targetMs?: number }> = [
  { people: 9, devices: 1 },
  { people: 99, devices: 1 },
  { people: 999, devices: 1, targetMs: 300 },
  { people: 1000, devices: 3, targetMs: 600 },
];
const ROUNDS = 5;
const MIN_MS = 300;

header('rotation', 'Question: rotateKey at 10 / 100 / 1,000 members (one device each) and 1,000 people × 3 devices vs the same number of stock @hpke/core seals; targets ≤ 300 ms at 1,000 members, ≤ 600 ms at 1,000 × 3 (3,000 boxes).');
const started = performance.now();

const stock = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

/** A group of `people` people of `devices` devices each; the creator (people[0]'s first device) rotates. */
async function groupOf(people: number, devices: number): Promise<{ admin: DeviceIdentity; state: GroupState; seed: Uint8Array }> {
  const { admin, state, seed } = await groupOfPeople(await makePeople(people, devices));
  return { admin, state, seed };
}

/** A recipient's box key as bytes (pre-keyed invites carry it as base64url). */
const keyBytes = (boxKey: Bytes | string): Bytes => (typeof boxKey === 'string' ? fromBase64url(boxKey, 32) : boxKey);

const rows: string[][] = [];
const verdicts: string[] = [];
let largest: { admin: DeviceIdentity; state: GroupState; seed: Uint8Array } | undefined;

for (const { people, devices, targetMs } of CASES) {
  const t = performance.now();
  const fixture = await groupOf(people, devices);
  const buildMs = performance.now() - t;
  const { admin, state, seed } = fixture;
  largest = fixture; // CASES grow: the last one is the largest
  const label = devices === 1 ? `${state.members.size} members × 1 device` : `${people} people × ${devices} devices`;

  const recipients = seedRecipients(state).filter((r) => r.id !== admin.fingerprint);
  const boxes = recipients.length;
  const check = await rotateKey(state, admin, seed);
  if (check.boxes.length !== boxes) throw new Error(`rotateKey made ${check.boxes.length} boxes, expected ${boxes}`);

  const recipientKeys = recipients.map((r) => keyBytes(r.boxKey));
  const info = labelled(LABELS.keyBoxInfo, { groupId: state.groupId, generation: 1, recipient: { kind: 'member', id: admin.fingerprint } });
  const secret = randomBytes(32);
  const stockSeals = () =>
    Promise.all(recipientKeys.map(async (key) => stock.seal({ recipientPublicKey: await stock.kem.deserializePublicKey(key), info }, secret)));

  const [ours, base] = await interleaved(
    [
      { name: 'rotateKey', run: () => rotateKey(state, admin, seed) },
      { name: 'stock HPKE', run: stockSeals },
    ],
    { rounds: ROUNDS, minMs: MIN_MS },
  );
  const oursMs = median(ours!.msPerOp);
  const baseMs = median(base!.msPerOp);
  const ratio = pairedRatio(ours!, base!);
  let target = '';
  if (targetMs !== undefined) {
    const ok = oursMs <= targetMs;
    target = `≤ ${targetMs} ms: ${ok ? 'within' : 'OVER'}`;
    verdicts.push(`rotation at ${label} (${fmt(boxes, 0)} boxes) takes ${fmt(oursMs, 0)} ms — ${ok ? 'within target' : 'over target'} (≤ ${targetMs} ms); ${ratio.median.toFixed(2)}× stock HPKE seals`);
  }
  rows.push([label, String(boxes), fmt(oursMs, 1), fmt(baseMs, 1), fmt(oursMs / boxes, 3), fmt(baseMs / boxes, 3), fmtRatio(ratio), target]);
  console.log(`  (${label}: group built in ${fmt(buildMs, 0)} ms, not measured)`);
}

console.log('');
printTable(['group', 'boxes', 'rotateKey ms', 'stock HPKE ms', 'ours ms/recipient', 'stock ms/recipient', 'ratio ours/stock', 'target'], rows);

// Where the time goes at the largest size: the steps of rotateWith, timed one by one,
// then the boxes split into their HPKE seal and the rest (box encoding + Ed25519 signature).
{
  const { admin, state, seed } = largest!;
  const generation = currentGeneration(state) + 1;
  const recipients = seedRecipients(state).filter((r) => r.id !== admin.fingerprint);
  const parts: Record<string, number[]> = { entry: [], validate: [], hpke: [], boxes: [] };
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    await checkSeed(state, currentGeneration(state), seed);
    const next = await makeRotation(state.groupId, generation, seed);
    const entry = await nextEntry(state, admin, 'rotate', { rotation: next.rotation });
    parts.entry!.push(performance.now() - t);
    t = performance.now();
    await extendLog(state, [entry]);
    parts.validate!.push(performance.now() - t);
    t = performance.now();
    await Promise.all(recipients.map((p) => hpkeSeal(keyBytes(p.boxKey), labelled(LABELS.keyBoxInfo, { groupId: state.groupId, generation, recipient: { kind: p.kind, id: p.id } }), next.seed)));
    parts.hpke!.push(performance.now() - t);
    t = performance.now();
    await Promise.all(recipients.map((p) => sealKeyBox(admin, state.groupId, generation, next.seed, { kind: p.kind, id: p.id } as KeyBox['recipient'], p.boxKey)));
    parts.boxes!.push(performance.now() - t);
  }
  const m = (k: string) => median(parts[k]!);
  const total = m('entry') + m('validate') + m('boxes');
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(0)}%`;
  console.log(`\nWhere the time goes at ${state.members.size} members, ${state.devices.size} devices (medians of ${ROUNDS} sequential runs of each step; info, not a ratio):`);
  printTable(
    ['step', 'ms', 'share'],
    [
      ['checkSeed + makeRotation + sign entry', fmt(m('entry'), 1), pct(m('entry'))],
      ['extendLog (clone state, validate entry)', fmt(m('validate'), 1), pct(m('validate'))],
      [`${recipients.length} key boxes (sealToRecipients' work)`, fmt(m('boxes'), 1), pct(m('boxes'))],
      ['  of which: HPKE seals alone (hpkeSeal)', fmt(m('hpke'), 1), pct(m('hpke'))],
      ['  of which: box encoding + Ed25519 signature', fmt(Math.max(0, m('boxes') - m('hpke')), 1), pct(Math.max(0, m('boxes') - m('hpke')))],
    ],
  );
}

console.log(`\n(${ROUNDS} alternating rounds of ≥ ${MIN_MS} ms per subject; total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log(`Verdict: ${verdicts.join('; ')}.`);
