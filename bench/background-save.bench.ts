/**
 * Question: what does saving and then showing one note cost through the extension's
 * background — how many HTTP requests reach the storage API, for which procedures, and
 * how long from the page's point of view — next to one bare `notes.put` + `notes.get`
 * of a prepared envelope, in the same run? (Issue 11: today the background costs
 * 5 requests per save, 3 of them log fetches.)
 *
 * Setup (not timed): the real storage API in a child process (bench/support/counted-api.ts:
 * `build(config)` + listen on 127.0.0.1:0, SQLite in a temp directory — on /dev/shm when
 * there is one —, rate limits raised, an `onRequest` hook counting HTTP requests and
 * the tRPC calls inside batched ones, by procedure). Chromium (playwright-core, the
 * flags of scripts/chromium.ts) with the built extension (.output/chrome-mv3; built
 * first if missing or older than the sources, always with BENCH_BUILD=1, never with
 * BENCH_BUILD=0), made a member of its own group through its own requests
 * (`settings.save`, `identity.create`, `group.create`).
 * In this process: a second device (its own identity and group) signed in with the SDK's
 * tRPC client, and a third with `GroupClient`.
 *
 * Measured, PER_ROUND operations per subject per round, in alternating rounds (A B C,
 * then C B A, ...), requests counted server side over the same window, from that
 * subject's client only (Chromium's user agent, or Node's):
 * - extension: from an extension page, `notes.save` (a new note) then `notes.read` of it
 *   — the page ↔ background messages the side panel sends — timed in the page
 *   (performance.now() around the two round trips, one after the other).
 * - SDK: `GroupClient.writeNote` then `readNote` from Node (what the background calls
 *   inside; the SDK keeps one session and syncs inside its per-group lock).
 * - bare (the baseline): `notes.put` of an envelope sealed before the round, then
 *   `notes.get` of it, with the SDK's plain tRPC client (signIn().api, httpBatchLink).
 * Then, untimed, BREAKDOWN single save+show operations through the extension with a
 * count read between the save and the show: the procedures of each step, and how the
 * requests were batched.
 * Ratios: per round, subject ms per operation / bare ms per operation; medians.
 * Background work outside the request (the per-minute tick) lands in whichever window
 * it falls in: counts per operation are averages and may be fractional.
 *
 * Run: npx tsx bench/background-save.bench.ts   (BENCH_ROUNDS, BENCH_PER_ROUND, BENCH_BREAKDOWN, BENCH_BUILD)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupClient, MemoryKeyStore, signIn } from '@conclave/shared/client';
import { createGroup, generateIdentity, generationKeys, importAeadKey, newNoteId, sealNote } from '@conclave/shared/crypto';
import type { GroupId, NoteEnvelope, NoteId } from '@conclave/shared/protocol';
import { countsBetween, describeCounts, forkCountedApi, measured, type Client, type Counts, type Measured } from './support/counted-api.ts';
import { ensureExtensionBuilt, launchExtension, memberWithGroup } from './support/extension-browser.ts';
import { fmt, header, median, printTable } from './support/harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 20);
const BREAKDOWN = Number(process.env.BENCH_BREAKDOWN ?? 5);
const WARMUP = 3;
const BODY = 'A note of a few lines, as people write them. '.repeat(8);

header(
  'saving and showing one note through the background',
  'Question: how many HTTP requests, which procedures, and how long does saving and showing one note cost through the extension’s background — next to a bare notes.put + notes.get, same server, same run?',
);
const started = performance.now();

ensureExtensionBuilt();
const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-bgsave-'));
const api = await forkCountedApi(join(scratch, 'data'));
let ext: Awaited<ReturnType<typeof launchExtension>> | undefined;

try {
  ext = await launchExtension(join(scratch, 'profile'));
  const extGroup = await memberWithGroup(ext, api.url);

  // --- the bare device: its own group, envelopes sealed ahead ---------------------------------------
  const bareIdentity = await generateIdentity();
  const bareGroupMade = await createGroup(bareIdentity);
  const bareGroup = bareGroupMade.state.groupId;
  const bare = await signIn(api.url, bareIdentity);
  await bare.api.groups.create.mutate({ entries: bareGroupMade.entries, boxes: bareGroupMade.boxes });
  const noteKey = await importAeadKey((await generationKeys(bareGroupMade.seed, bareGroup, 0)).noteKey);
  const sealed: NoteEnvelope[] = await Promise.all(
    Array.from({ length: WARMUP + ROUNDS * PER_ROUND }, (_, i) =>
      sealNote(bareIdentity, { groupId: bareGroup, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, { title: `Bare note ${i}`, body: BODY }),
    ),
  );
  let nextSealed = 0;

  // --- the SDK device ----------------------------------------------------------------------------------
  const sdk = await GroupClient.connect(api.url, await generateIdentity(), new MemoryKeyStore());
  const { groupId: sdkGroup } = await sdk.createGroup();

  let counter = 0;
  const title = (who: string) => `${who} note ${++counter}`;

  /** `n` save+show operations through the extension, timed in the page. */
  async function extensionOps(n: number): Promise<number> {
    const result = await ext!.page.evaluate(
      async ({ groupId, n, first, body }) => {
        const send = async (request: Record<string, unknown>) => {
          const answer = (await (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({
            channel: 'conclave.request',
            request,
          })) as { ok: boolean; data?: Record<string, unknown>; error?: { code: string; message: string } } | undefined;
          if (!answer?.ok) throw new Error(`${String(request.type)}: ${answer?.error?.code}: ${answer?.error?.message ?? 'no answer'}`);
          return answer.data!;
        };
        const start = performance.now();
        for (let i = 0; i < n; i++) {
          const title = `Extension note ${first + i}`;
          const saved = await send({ type: 'notes.save', groupId, title, body });
          if (saved.saved !== true) throw new Error(`notes.save did not save: ${JSON.stringify(saved)}`);
          const shown = await send({ type: 'notes.read', groupId, noteId: saved.noteId });
          if (shown.title !== title) throw new Error(`notes.read showed "${String(shown.title)}", not "${title}"`);
        }
        return performance.now() - start;
      },
      { groupId: extGroup, n, first: counter, body: BODY },
    );
    counter += n;
    return result;
  }

  async function sdkOps(n: number): Promise<number> {
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const t = title('SDK');
      const { noteId } = await sdk.writeNote(sdkGroup as GroupId, { title: t, body: BODY });
      const shown = await sdk.readNote(sdkGroup as GroupId, noteId);
      if (shown.title !== t) throw new Error(`readNote showed "${shown.title}", not "${t}"`);
    }
    return performance.now() - start;
  }

  async function bareOps(n: number): Promise<number> {
    const envelopes = sealed.slice(nextSealed, nextSealed + n);
    nextSealed += n;
    if (envelopes.length < n) throw new Error('ran out of sealed envelopes');
    const start = performance.now();
    for (const envelope of envelopes) {
      await bare.api.notes.put.mutate({ envelope });
      const got = (await bare.api.notes.get.query({ groupId: bareGroup, noteId: envelope.noteId as NoteId })) as NoteEnvelope;
      if (got.body !== envelope.body) throw new Error('notes.get returned another body');
    }
    return performance.now() - start;
  }

  /** Runs `run` and counts the requests of `client` meanwhile. */
  const subjects: Array<{ name: string; client: Client; run: (n: number) => Promise<number> }> = [
    { name: 'extension: notes.save + notes.read (page → background)', client: 'browser', run: extensionOps },
    { name: 'SDK: GroupClient.writeNote + readNote', client: 'node', run: sdkOps },
    { name: 'bare: notes.put + notes.get (prepared envelope)', client: 'node', run: bareOps },
  ];

  // Warm-up, untimed: first compile of the code paths on every side.
  for (const s of subjects) await s.run(WARMUP);

  const windows: Measured[][] = subjects.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const order = subjects.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) windows[i]!.push(await measured(api, subjects[i]!.client, () => subjects[i]!.run(PER_ROUND)));
  }

  // --- breakdown: one extension operation at a time, a count between save and show ----------------------
  const steps: Array<{ save: Counts; show: Counts }> = [];
  for (let i = 0; i < BREAKDOWN; i++) {
    const c0 = await api.counts();
    const saved = await ext.ask<{ saved: boolean; noteId: string }>({ type: 'notes.save', groupId: extGroup, title: title('Breakdown'), body: BODY });
    const c1 = await api.counts();
    await ext.ask({ type: 'notes.read', groupId: extGroup, noteId: saved.noteId });
    const c2 = await api.counts();
    steps.push({ save: countsBetween(c0.browser, c1.browser), show: countsBetween(c1.browser, c2.browser) });
  }

  // --- report --------------------------------------------------------------------------------------------
  const bareIndex = subjects.length - 1;
  const perOp = (w: Measured) => w.ms / PER_ROUND;
  const total = (ws: Measured[], pick: (c: Counts) => number) => ws.reduce((n, w) => n + pick(w.counts), 0) / (ws.length * PER_ROUND);
  const sumBy = (ws: Measured[], pick: (c: Counts) => Record<string, number>) => {
    const sum: Record<string, number> = {};
    for (const w of ws) for (const [k, n] of Object.entries(pick(w.counts))) sum[k] = (sum[k] ?? 0) + n;
    return sum;
  };
  const failed = windows.flat().reduce((n, w) => n + w.counts.failed, 0);
  console.log(`${ROUNDS} rounds of ${PER_ROUND} save+show operations per subject, alternating; ms per save+show; requests counted by the server\n`);
  printTable(
    ['subject', 'HTTP requests / op', 'tRPC calls / op', 'median ms / op', 'min–max', 'vs bare'],
    subjects.map((s, i) => {
      const ws = windows[i]!;
      const ms = ws.map(perOp);
      const ratios = ws.map((w, r) => perOp(w) / perOp(windows[bareIndex]![r]!));
      return [
        s.name,
        fmt(total(ws, (c) => c.requests)),
        fmt(total(ws, (c) => c.calls)),
        fmt(median(ms)),
        `${fmt(Math.min(...ms))}–${fmt(Math.max(...ms))}`,
        i === bareIndex ? '1.00×' : `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
      ];
    }),
  );
  console.log('\ncalls per save+show, by procedure (all timed rounds):');
  for (const [i, s] of subjects.entries()) console.log(`  ${s.name}: ${describeCounts(sumBy(windows[i]!, (c) => c.byProcedure), ROUNDS * PER_ROUND)}`);

  const pattern = (c: Counts) => `${c.requests} request${c.requests === 1 ? '' : 's'}: ${describeCounts(c.byRequest)}`;
  const tally = (xs: string[]) => [...xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>())].sort((a, b) => b[1] - a[1]);
  console.log(`\nthrough the extension, one operation at a time (${BREAKDOWN} operations; requests named by the calls they carried, a batch as a+b):`);
  for (const [step, pick] of [['notes.save', (s: (typeof steps)[number]) => s.save], ['notes.read', (s: (typeof steps)[number]) => s.show]] as const) {
    for (const [p, n] of tally(steps.map((s) => pattern(pick(s))))) console.log(`  ${step.padEnd(10)} ${p}   (${n} of ${BREAKDOWN})`);
  }
  for (const [n, k] of tally(steps.map((s) => String(s.save.requests + s.show.requests)))) console.log(`  save+show  ${n} requests   (${k} of ${BREAKDOWN})`);
  if (failed > 0) console.log(`\nwarning: the server answered ${failed} requests with an error status during the timed rounds`);
} finally {
  await ext?.close().catch(() => undefined);
  await api.close().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000)} s`);
}
