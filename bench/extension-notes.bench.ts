/**
 * Question: how fast does the extension write many notes — 1,000 `notes.save` requests
 * from an extension page, a bounded number in flight — next to the same number of bare
 * SDK `GroupClient.writeNote` calls from Node against the same server, in the same run?
 * (Issue 11: today about 61 notes/s when filling a group with 10,000, see
 * bench/sidepanel-notes.bench.ts.)
 *
 * Setup (not timed): the real storage API in a child process (bench/support/counted-api.ts:
 * `build(config)` + listen on 127.0.0.1:0, SQLite in a temp directory — on /dev/shm when
 * there is one —, rate limits raised, requests and tRPC calls counted by procedure).
 * Chromium (playwright-core, the flags of scripts/chromium.ts) with the built extension
 * (.output/chrome-mv3; built first if missing or older than the sources, always with
 * BENCH_BUILD=1, never with BENCH_BUILD=0), made a member of its own group through its
 * own requests (`settings.save`, `identity.create`, `group.create`). In this process: a
 * `GroupClient` (`connect` + `createGroup`, a MemoryKeyStore) with a group of its own.
 *
 * Measured, in alternating rounds (extension, SDK; then SDK, extension; ...), each round
 * NOTES new notes per subject with IN_FLIGHT requests in flight (a pool: a new request
 * starts as soon as one is answered):
 * - extension: `notes.save` (title and a ~360-byte body) sent from an extension page as
 *   the side panel sends it; timed in the page from the first request to the last answer.
 *   The background encrypts, syncs, uploads and caches each note as in use.
 * - SDK (the baseline): `GroupClient.writeNote` with the same titles and bodies.
 * Both groups grow by NOTES a round, alike. Notes/s is NOTES over the round's time; the
 * ratio is, per round, the extension's time over the SDK's; medians. Requests per note
 * are counted by the server over each round, from that subject's client only (Chromium's
 * user agent, or Node's): the extension's per-minute tick lands in its own figures.
 *
 * Run: npx tsx bench/extension-notes.bench.ts   (BENCH_NOTES, BENCH_ROUNDS, BENCH_IN_FLIGHT, BENCH_BUILD)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupClient, MemoryKeyStore } from '@conclave/shared/client';
import { generateIdentity } from '@conclave/shared/crypto';
import { describeCounts, forkCountedApi, measured, type Client, type Counts, type Measured } from './support/counted-api.ts';
import { ensureExtensionBuilt, launchExtension, memberWithGroup } from './support/extension-browser.ts';
import { fmt, header, median, printTable } from './support/harness.ts';

const NOTES = Number(process.env.BENCH_NOTES ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 25);
const WARMUP = 20;
const WORDS = ['budget', 'garden', 'meeting', 'plans', 'recipes', 'travel', 'minutes', 'ideas'];

header(
  'writing many notes through the extension',
  `Question: how many notes per second does the extension write (${NOTES.toLocaleString('en-US')} notes.save, ${IN_FLIGHT} in flight) — next to ${NOTES.toLocaleString('en-US')} bare SDK writeNote calls from Node, same server, same run?`,
);
const started = performance.now();

ensureExtensionBuilt();
const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-extnotes-'));
const api = await forkCountedApi(join(scratch, 'data'));
let ext: Awaited<ReturnType<typeof launchExtension>> | undefined;

try {
  ext = await launchExtension(join(scratch, 'profile'), 600_000);
  const extGroup = await memberWithGroup(ext, api.url);
  const sdk = await GroupClient.connect(api.url, await generateIdentity(), new MemoryKeyStore());
  const { groupId: sdkGroup } = await sdk.createGroup();

  let written = 0;

  /** `n` notes.save from the extension page, `inFlight` at a time; ms from the first request to the last answer. */
  async function extensionWrites(n: number): Promise<number> {
    const first = written;
    written += n;
    return ext!.page.evaluate(
      async ({ groupId, n, first, inFlight, words }) => {
        const send = (request: unknown) =>
          (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<{ ok: boolean; data?: { saved?: boolean }; error?: { code: string; message: string } } | undefined> } } }).chrome.runtime.sendMessage({
            channel: 'conclave.request',
            request,
          });
        let next = 0;
        const start = performance.now();
        await Promise.all(
          Array.from({ length: Math.min(inFlight, n) }, async () => {
            while (next < n) {
              const i = first + next++;
              const answer = await send({ type: 'notes.save', groupId, title: `Note ${i}: ${words[i % words.length]}`, body: `Body of note ${i}. `.repeat(20) });
              if (!answer?.ok || answer.data?.saved !== true) throw new Error(`notes.save: ${answer?.error?.code}: ${answer?.error?.message ?? JSON.stringify(answer)}`);
            }
          }),
        );
        return performance.now() - start;
      },
      { groupId: extGroup, n, first, inFlight: IN_FLIGHT, words: WORDS },
    );
  }

  async function sdkWrites(n: number): Promise<number> {
    const first = written;
    written += n;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(IN_FLIGHT, n) }, async () => {
        while (next < n) {
          const i = first + next++;
          await sdk.writeNote(sdkGroup, { title: `Note ${i}: ${WORDS[i % WORDS.length]}`, body: `Body of note ${i}. `.repeat(20) });
        }
      }),
    );
    return performance.now() - start;
  }

  /** Runs `run` and counts the requests of `client` meanwhile. */
  const subjects: Array<{ name: string; client: Client; run: (n: number) => Promise<number> }> = [
    { name: 'extension: notes.save from a page', client: 'browser', run: extensionWrites },
    { name: 'SDK: GroupClient.writeNote from Node', client: 'node', run: sdkWrites },
  ];

  for (const s of subjects) await s.run(WARMUP);

  const rounds: Measured[][] = subjects.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const order = subjects.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const m = await measured(api, subjects[i]!.client, () => subjects[i]!.run(NOTES));
      rounds[i]!.push(m);
      console.log(`round ${r + 1}: ${subjects[i]!.name}: ${fmt(m.ms / 1000)} s, ${fmt((NOTES / m.ms) * 1000, 0)} notes/s`);
    }
  }

  // --- report --------------------------------------------------------------------------------------------
  const base = subjects.length - 1;
  const failed = rounds.flat().reduce((n, m) => n + m.counts.failed, 0);
  console.log(`\n${ROUNDS} rounds of ${NOTES.toLocaleString('en-US')} new notes per subject, ${IN_FLIGHT} in flight, alternating\n`);
  printTable(
    ['subject', 'median notes/s', 'min–max', 'HTTP requests / note', 'tRPC calls / note', 'time vs SDK'],
    subjects.map((s, i) => {
      const ms = rounds[i]!.map((m) => m.ms);
      const rate = ms.map((t) => (NOTES / t) * 1000);
      const ratios = ms.map((t, r) => t / rounds[base]![r]!.ms);
      const per = (pick: (c: Counts) => number) => fmt(rounds[i]!.reduce((n, m) => n + pick(m.counts), 0) / (ROUNDS * NOTES));
      return [
        s.name,
        fmt(median(rate), 1),
        `${fmt(Math.min(...rate), 1)}–${fmt(Math.max(...rate), 1)}`,
        per((c) => c.requests),
        per((c) => c.calls),
        i === base ? '1.00×' : `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
      ];
    }),
  );
  console.log('\ncalls per note, by procedure (all timed rounds):');
  for (const [i, s] of subjects.entries()) {
    const sum: Record<string, number> = {};
    for (const m of rounds[i]!) for (const [k, n] of Object.entries(m.counts.byProcedure)) sum[k] = (sum[k] ?? 0) + n;
    console.log(`  ${s.name}: ${describeCounts(sum, ROUNDS * NOTES)}`);
  }
  if (failed > 0) console.log(`\nwarning: the server answered ${failed} requests with an error status during the timed rounds`);
} finally {
  await ext?.close().catch(() => undefined);
  await api.close().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000)} s`);
}
