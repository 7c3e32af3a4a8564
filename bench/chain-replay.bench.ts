/**
 * Question: what does replaying people's device chains cost next to the Ed25519
 * verifications they fundamentally need — a person's chain of 100 devices with
 * `replayChain`, and a group log of 1,000 people with 3 devices each (their chains
 * embedded in the `create` and `add` entries) with `replayLog`?
 *
 * Fixtures (support/people.ts, built once per run, untimed, time printed): a person of
 * 100 devices is a `found` entry and 99 `link` entries, each certified by the device
 * linked before it and carrying the new device's consent: 100 entries, 199 signatures.
 * The group is `createGroup` by a 3-device person, the recovery recipient, and 999
 * admin `add` entries each carrying a whole 3-device chain (1 `found` + 2 `link`s):
 * per add, its own signature and the chain's five. The first (cold) replay of each is
 * timed and printed separately; it is also the warm-up.
 *
 * Baseline, same run, alternating rounds: raw WebCrypto Ed25519 verifies, as many as the
 * replay checks, over the very messages it checks (every log entry's and chain entry's
 * signing input, every consent input), with one key imported once, in batches of 256
 * under Promise.all (as `signature-batch.ts` verifies). No target is set (issue 13 asks
 * for the ratios); for comparison, the single-device log-validation bench aims at 1.2×.
 *
 * For information, where the group replay's main thread goes (timed one by one, not a
 * ratio): parsing every entry with its schema (zod, embedded chains included), and the
 * canonical signing inputs and hashes of every log entry, chain entry and consent —
 * work the raw baseline does not do, on a thread the verifies share on 2 cores.
 *
 * Run: npx tsx bench/chain-replay.bench.ts   (about 1 minute on 2 cores)
 */
import { performance } from 'node:perf_hooks';
import { consentInput, deviceEntryHash, deviceEntrySigningInput, entryHashOf, entrySigningInput, replayChain, replayLog } from '@conclave/shared/crypto';
import { logEntrySchema } from '@conclave/shared/protocol';
import type { Bytes, DeviceEntry, LogEntry } from '@conclave/shared/protocol';
import { fmt, fmtRatio, header, interleaved, loadCaveat, median, pairedRatio, printTable, type Samples } from './support/harness.ts';
import { chainSignatureCount, groupOfPeople, makePeople } from './support/people.ts';

const CHAIN_DEVICES = 100;
const GROUP_PEOPLE = 1000;
const DEVICES_EACH = 3;
const BATCH = 256; // signature-batch.ts SIGNATURE_BATCH
const ROUNDS = 5;
/** The chain replays in a few milliseconds: each sample repeats it for at least this long. */
const CHAIN_MIN_MS = 300;

const subtle = globalThis.crypto.subtle;
const n = (x: number) => x.toLocaleString('en-US');

header(
  'device chain replay',
  `Question: replayChain of a ${CHAIN_DEVICES}-device person, and replayLog of a group of ${n(GROUP_PEOPLE)} people × ${DEVICES_EACH} devices, vs as many raw Ed25519 verifies (batches of ${BATCH}).`,
);
const started = performance.now();

/** The message of every signature a chain's replay checks: each entry, and each link's consent. */
function chainMessages(chain: readonly DeviceEntry[]): Bytes[] {
  const messages: Bytes[] = [];
  for (const e of chain) {
    messages.push(deviceEntrySigningInput(e));
    if (e.op === 'link') messages.push(consentInput({ person: e.person, seq: e.seq, prev: e.prev!, certifier: e.author }, e.body.device));
  }
  return messages;
}

/**
 * The message of every signature a group log's replay checks: each entry and its embedded
 * chain. (The recovery bundle's self-signature is counted with its entry's signing input.)
 */
function logMessages(entries: readonly LogEntry[]): Bytes[] {
  const messages: Bytes[] = [];
  for (const e of entries) {
    const input = entrySigningInput(e);
    messages.push(input);
    if (e.op === 'create') messages.push(...chainMessages(e.body.creator));
    if (e.op === 'add') messages.push(...chainMessages(e.body.member));
    if (e.op === 'recovery') messages.push(input);
  }
  return messages;
}

/** Raw verifies of `messages` with one key, in batches of BATCH, as the replay dispatches them. */
async function rawVerifier(messages: readonly Bytes[]): Promise<() => Promise<void>> {
  const keys = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const sigs = await Promise.all(messages.map((m) => subtle.sign('Ed25519', keys.privateKey, m)));
  const run = async () => {
    for (let i = 0; i < messages.length; i += BATCH) {
      const batch: Promise<boolean>[] = [];
      for (let j = i; j < Math.min(messages.length, i + BATCH); j++) batch.push(subtle.verify('Ed25519', keys.publicKey, sigs[j]!, messages[j]!));
      if ((await Promise.all(batch)).includes(false)) throw new Error('baseline: bad signature');
    }
  };
  await run(); // warm-up
  return run;
}

// --- fixtures ----------------------------------------------------------------------------------

let t = performance.now();
const [person] = await makePeople(1, CHAIN_DEVICES);
const chain = person!.chain;
const chainBuildMs = performance.now() - t;
t = performance.now();
const replayedChain = await replayChain(chain);
const chainColdMs = performance.now() - t;
if (replayedChain.devices.size !== CHAIN_DEVICES) throw new Error(`the chain replayed to ${replayedChain.devices.size} devices`);
const chainSigs = chainSignatureCount(chain);

t = performance.now();
const group = await groupOfPeople(await makePeople(GROUP_PEOPLE, DEVICES_EACH));
const groupBuildMs = performance.now() - t;
t = performance.now();
const replayedGroup = await replayLog(group.entries);
const groupColdMs = performance.now() - t;
if (replayedGroup.devices.size !== GROUP_PEOPLE * DEVICES_EACH + 1) throw new Error(`the log replayed to ${replayedGroup.devices.size} devices`);

const chainVerify = await rawVerifier(chainMessages(chain));
const groupMessages = logMessages(group.entries);
const groupVerify = await rawVerifier(groupMessages);

console.log(`person: ${CHAIN_DEVICES} devices, ${chain.length} chain entries, ${n(chainSigs)} signatures; built in ${fmt(chainBuildMs, 0)} ms (not measured); first (cold) replayChain ${fmt(chainColdMs, 1)} ms`);
console.log(
  `group: ${n(replayedGroup.members.size)} members (recovery included), ${n(replayedGroup.devices.size)} devices, ${n(group.entries.length)} log entries, ${n(groupMessages.length)} signatures; ` +
    `built in ${(groupBuildMs / 1000).toFixed(1)} s (not measured); first (cold) replayLog ${fmt(groupColdMs, 0)} ms\n`,
);

// --- measurements ------------------------------------------------------------------------------

const [chainOurs, chainBase] = await interleaved(
  [
    { name: 'replayChain', run: () => replayChain(chain) },
    { name: 'raw verifies', run: chainVerify },
  ],
  { rounds: ROUNDS, minMs: CHAIN_MIN_MS, warmupMs: 0 },
);
const [groupOurs, groupBase] = await interleaved(
  [
    { name: 'replayLog', run: () => replayLog(group.entries) },
    { name: 'raw verifies', run: groupVerify },
  ],
  { rounds: ROUNDS, minMs: 0, warmupMs: 0 },
);

const chainRatio = pairedRatio(chainOurs!, chainBase!);
const groupRatio = pairedRatio(groupOurs!, groupBase!);
const row = (label: string, s: Samples, count: number, vs: string) => [label, fmt(median(s.msPerOp), 1), fmt((1000 * median(s.msPerOp)) / count, 1), vs];
printTable(
  ['case', 'ms', 'µs/signature', 'replay ÷ this'],
  [
    row(`replayChain, ${CHAIN_DEVICES} devices (${chain.length} entries)`, chainOurs!, chainSigs, '—'),
    row(`  baseline: ${n(chainSigs)} raw verifies, batches of ${BATCH}`, chainBase!, chainSigs, fmtRatio(chainRatio)),
    row(`replayLog, ${n(GROUP_PEOPLE)} people × ${DEVICES_EACH} devices (${n(group.entries.length)} entries)`, groupOurs!, groupMessages.length, '—'),
    row(`  baseline: ${n(groupMessages.length)} raw verifies, batches of ${BATCH}`, groupBase!, groupMessages.length, fmtRatio(groupRatio)),
  ],
);
// Where the group replay's main thread goes: the steps it takes besides verifying, one by one.
{
  const parts: Record<'parse' | 'encode', number[]> = { parse: [], encode: [] };
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    for (const e of group.entries) if (!logEntrySchema.safeParse(e).success) throw new Error('a fixture entry does not parse');
    parts.parse.push(performance.now() - t0);
    t0 = performance.now();
    for (const e of group.entries) {
      entryHashOf(entrySigningInput(e), e.sig);
      const embedded = e.op === 'create' ? e.body.creator : e.op === 'add' ? e.body.member : [];
      for (const d of embedded) {
        deviceEntryHash(d);
        if (d.op === 'link') consentInput({ person: d.person, seq: d.seq, prev: d.prev!, certifier: d.author }, d.body.device);
      }
    }
    parts.encode.push(performance.now() - t0);
  }
  const whole = median(groupOurs!.msPerOp);
  const share = (ms: number) => `${((100 * ms) / whole).toFixed(0)}%`;
  console.log(`\nWhere replayLog's main thread goes at ${n(GROUP_PEOPLE)} × ${DEVICES_EACH} (medians of ${ROUNDS} sequential runs of each step; info, not a ratio; share of the replay's median):`);
  printTable(
    ['step', 'ms', 'share'],
    [
      [`parse ${n(group.entries.length)} entries (logEntrySchema, chains included)`, fmt(median(parts.parse), 1), share(median(parts.parse))],
      ['signing inputs + hashes of entries and chain entries, consent inputs', fmt(median(parts.encode), 1), share(median(parts.encode))],
    ],
  );
}

console.log(`\n(${ROUNDS} alternating rounds: the chain repeated for ≥ ${CHAIN_MIN_MS} ms per subject, the group log one full validation per subject; total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log(
  `Verdict: replaying a ${CHAIN_DEVICES}-device chain takes ${fmt(median(chainOurs!.msPerOp), 1)} ms, ${chainRatio.median.toFixed(2)}× its ${n(chainSigs)} raw verifies; ` +
    `replaying a group of ${n(GROUP_PEOPLE)} people × ${DEVICES_EACH} devices takes ${fmt(median(groupOurs!.msPerOp), 0)} ms, ${groupRatio.median.toFixed(2)}× its ${n(groupMessages.length)} raw verifies ` +
    `(no target in issue 13; the single-device log-validation bench aims at ≤ 1.2×)${loadCaveat()}.`,
);
