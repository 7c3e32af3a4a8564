/**
 * Question: what does one API process pay in memory per live subscription when it holds
 * 5,000 at once, and how long does one note event take to reach all 1,000 subscribers
 * of a group — on one process (SQLite), and across two API processes on one PostgreSQL
 * (the write on process 1, the subscribers on process 2, fanned out through
 * LISTEN/NOTIFY)?
 *
 * Setup (not timed, its time printed): API processes are children (bench/support/
 * live-api.ts) so their memory is their own: VmRSS from /proc/<pid>/status, and the V8
 * heap (used + external) after a full GC, reported by the child. The per-IP WebSocket
 * and rate limits are raised (all clients are on 127.0.0.1). 5,000 device identities,
 * each signed in (`signIn`: a real session): the first 1,000 are members of group A
 * (with the writer), the other 4,000 of groups of 10; group F holds only the admin and
 * the writer. The logs are built directly (`createGroup` + the admin's signed `add`
 * entries, sent with `groups.create` / `groups.append` in 500s: the server replays and
 * checks every entry as usual) — one SDK `addMember` per member would take minutes.
 * Each device opens one subscription over its own WebSocket, all in this process
 * (bench/support/live-subscriber.ts: a raw tRPC `wsLink` client, what `GroupClient.live`
 * opens on the wire, heartbeat included). The writer is a process of its own
 * (bench/support/live-writer.ts), so its answer does not queue behind the events this
 * process receives; times are epoch ms, comparable across processes.
 *
 * Memory: 100 subscriptions are opened first (one-time costs of the first WebSockets),
 * the process settles (no event for 1 s) and is read; then the other 4,900 are opened,
 * settled and read again: per subscription = the difference ÷ 4,900. Baseline: the
 * process's own RSS before the first subscription (sessions and groups held).
 *
 * Fan-out: the writer `notes.put`s a new note (sealed before timing, version 1) to group
 * A; the figure is the put sent → the last of the 1,000 group-A subscribers receiving its
 * `note` event (received in this process, which also holds the other 4,000 streams);
 * also shown: from the put's answer, and that put's round trip. Baseline, alternating
 * with it: a `notes.put` round trip to group F (nobody to tell). EVENTS events of each,
 * after one untimed; medians. With PostgreSQL also: the same write sent to process 2
 * itself, for what the hop between processes costs.
 *
 * Run: npx tsx bench/live-fanout.bench.ts   (about 3–4 minutes; BENCH_SUBSCRIPTIONS,
 *      BENCH_GROUP, BENCH_EVENTS; PostgreSQL at CONCLAVE_BENCH_DATABASE_URL /
 *      CONCLAVE_TEST_DATABASE_URL, else postgres://127.0.0.1:5432/test, in a fresh schema
 *      dropped afterwards; that phase is skipped with a note when it is unreachable)
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { signIn, type ApiClient } from '@conclave/shared/client';
import { createGroup, entryHash, generateIdentity, newNoteId, nextEntry, singleDeviceChain, type DeviceIdentity, type GroupState } from '@conclave/shared/crypto';
import type { DeviceEntry, GroupId, LogEntry } from '@conclave/shared/protocol';
import { withDefaultUser } from '../storage-api/src/store/postgres.ts';
import { fmt, header, median, printTable } from './support/harness.ts';
import { startLiveApi, type HeapReading, type LiveApi } from './support/live-api.ts';
import { LIVE_LIMITS_RAISED } from './support/live-limits.ts';
import { subscribe, type RawEvent, type Subscriber } from './support/live-subscriber.ts';
import { startWriter } from './support/live-writer.ts';

const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 5000);
const GROUP_SIZE = Number(process.env.BENCH_GROUP ?? 1000);
const SMALL_GROUP = 10;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 9);
const WARM_SUBSCRIPTIONS = 100;
const ENTRIES_PER_CALL = 500;
const WAIT_MS = 60_000;
const DATABASE_URL = process.env.CONCLAVE_BENCH_DATABASE_URL ?? process.env.CONCLAVE_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
/** The bench reuses one set of signed logs on both stores: their entries' clocks must stay acceptable. */
const CONFIG = { ...LIVE_LIMITS_RAISED, clockSkewMs: 6 * 3_600_000 };

header(
  'live fan-out',
  `Question: memory per live subscription with ${SUBSCRIPTIONS.toLocaleString('en-US')} open on one API process, and one note event → all ${GROUP_SIZE.toLocaleString('en-US')} subscribers of its group; one process (SQLite), then two processes on one PostgreSQL.`,
);
const started = performance.now();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const epochNow = () => performance.timeOrigin + performance.now();
async function until(what: string, check: () => boolean, ms = WAIT_MS): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(1);
  }
}
async function inBatches<T>(count: number, width: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => make(i + j)))));
  return out;
}

// --- identities and signed logs (made once, sent to each store) -------------------------------

interface BuiltGroup {
  groupId: GroupId;
  create: { entries: LogEntry[]; boxes: unknown[] };
  more: LogEntry[][];
  seed: Uint8Array;
}

let t = performance.now();
const writer = await startWriter();
const admin = await generateIdentity();
const devices: DeviceIdentity[] = await inBatches(SUBSCRIPTIONS, 64, () => generateIdentity());

/** A group made by `admin` with `members` (people: device chains) added by it, as entries to send in calls of 500. */
async function buildGroup(members: DeviceEntry[][]): Promise<BuiltGroup> {
  const group = await createGroup(admin);
  const cursor: GroupState = { ...group.state };
  const entries: LogEntry[] = [...group.entries];
  for (const member of members) {
    const entry = await nextEntry(cursor, admin, 'add', { member, role: 'member' });
    entries.push(entry);
    cursor.seq = entry.seq;
    cursor.head = entryHash(entry);
    cursor.lastAt = entry.at;
  }
  const chunks: LogEntry[][] = [];
  for (let i = 0; i < entries.length; i += ENTRIES_PER_CALL) chunks.push(entries.slice(i, i + ENTRIES_PER_CALL));
  return { groupId: group.state.groupId, create: { entries: chunks[0]!, boxes: group.boxes }, more: chunks.slice(1), seed: group.seed };
}
// Group A: the first GROUP_SIZE devices and the writer; every other device in a group of SMALL_GROUP.
// Each device is a person of one device (its chain is one `found` entry).
const people: DeviceEntry[][] = await inBatches(devices.length, 64, (i) => singleDeviceChain(devices[i]!));
const groupA = await buildGroup([...people.slice(0, GROUP_SIZE), writer.chain]);
const small: BuiltGroup[] = [];
for (let i = GROUP_SIZE; i < people.length; i += SMALL_GROUP) small.push(await buildGroup(people.slice(i, i + SMALL_GROUP)));
// Group F: the writer alone with the admin (the baseline put: nobody to tell).
const lonely = await buildGroup([writer.chain]);
console.log(
  `${SUBSCRIPTIONS.toLocaleString('en-US')} identities; group A of ${GROUP_SIZE.toLocaleString('en-US')} members + the writer, ${small.length} groups of ${SMALL_GROUP} for the others, group F (admin + writer): made in ${fmt((performance.now() - t) / 1000)} s`,
);

async function storeGroups(api: ApiClient): Promise<void> {
  await inBatches(small.length + 2, 8, async (i) => {
    const g = [groupA, lonely, ...small][i]!;
    await api.groups.create.mutate(g.create as Parameters<ApiClient['groups']['create']['mutate']>[0]);
    for (const entries of g.more) await api.groups.append.mutate({ groupId: g.groupId, entries });
  });
}

// --- one phase: subscriptions on `subsApi`, writes on `writeApis` -------------------------------

interface Phase {
  label: string;
  memory: { rssBefore: number; rssWarm: number; rssAll: number; heapWarm: HeapReading; heapAll: HeapReading; setupEvents: number; openSeconds: number };
  fanout: Array<{ writer: string; sentToLast: number[]; answeredToLast: number[]; put: number[]; baselinePut: number[] }>;
}

async function phase(label: string, subsApi: LiveApi, writeApis: Array<{ name: string; api: LiveApi }>): Promise<Phase> {
  t = performance.now();
  await storeGroups((await signIn(writeApis[0]!.api.url, admin)).api);
  for (const w of writeApis) await writer.signIn(w.api.url);
  const tokens = await inBatches(devices.length, 64, async (i) => (await signIn(subsApi.url, devices[i]!)).token);
  console.log(`[${label}] groups stored and ${tokens.length.toLocaleString('en-US')} devices signed in in ${fmt((performance.now() - t) / 1000)} s`);

  // When each group-A subscriber got the awaited note event (epoch ms).
  let events = 0;
  let lastEventAt = performance.now();
  let awaited: { noteId: string; times: number[] } | null = null;
  const onEvent = (event: RawEvent) => {
    events++;
    lastEventAt = performance.now();
    if (awaited && event.type === 'note' && event.noteId === awaited.noteId && event.groupId === groupA.groupId) awaited.times.push(epochNow());
  };
  const settle = () => until('the event flurry to settle', () => performance.now() - lastEventAt > 1000, 300_000);

  const subscribers: Subscriber[] = [];
  const rssBefore = subsApi.rss();
  try {
    t = performance.now();
    const open = async (from: number, to: number) => {
      for (let i = from; i < to; i += 100) {
        const batch = Array.from({ length: Math.min(100, to - i) }, (_, j) => subscribe(subsApi.url, tokens[i + j]!, onEvent));
        subscribers.push(...batch);
        await Promise.all(batch.map((s) => s.opened));
      }
    };
    await open(0, WARM_SUBSCRIPTIONS);
    await settle();
    const heapWarm = await subsApi.heap();
    const rssWarm = subsApi.rss();
    await open(WARM_SUBSCRIPTIONS, tokens.length);
    await settle();
    const heapAll = await subsApi.heap();
    const rssAll = subsApi.rss();
    const setupEvents = events;
    const openSeconds = (performance.now() - t) / 1000;
    console.log(`[${label}] ${subscribers.length.toLocaleString('en-US')} subscriptions open and settled in ${fmt(openSeconds)} s (${setupEvents.toLocaleString('en-US')} events received while opening)`);

    const fanout: Phase['fanout'] = writeApis.map((w) => ({ writer: w.name, sentToLast: [], answeredToLast: [], put: [], baselinePut: [] }));
    // One untimed event of each kind first (e = -1).
    for (let e = -1; e < EVENTS; e++) {
      for (let k = 0; k < writeApis.length; k++) {
        const url = writeApis[k]!.api.url;
        const row = fanout[k]!;
        const subject = async () => {
          const noteId = newNoteId();
          const got = (awaited = { noteId, times: [] as number[] });
          const { start, end } = await writer.put(url, groupA.groupId, groupA.seed, noteId);
          await until(`all ${GROUP_SIZE} subscribers of group A to get note event ${e}`, () => got.times.length >= GROUP_SIZE, 30_000);
          awaited = null;
          if (e < 0) return;
          const last = Math.max(...got.times);
          row.sentToLast.push(last - start);
          row.answeredToLast.push(last - end);
          row.put.push(end - start);
        };
        const baseline = async () => {
          const { start, end } = await writer.put(url, lonely.groupId, lonely.seed, newNoteId());
          if (e >= 0) row.baselinePut.push(end - start);
        };
        if (e % 2 === 0) {
          await subject();
          await baseline();
        } else {
          await baseline();
          await subject();
        }
        await sleep(100);
      }
    }
    return { label, memory: { rssBefore, rssWarm, rssAll, heapWarm, heapAll, setupEvents, openSeconds }, fanout };
  } finally {
    await Promise.all(subscribers.map((s) => s.close().catch(() => undefined)));
  }
}

// --- run ---------------------------------------------------------------------------------------

const results: Phase[] = [];
const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-live-fanout-'));
try {
  const api = await startLiveApi({ dataDir: join(scratch, 'data'), config: CONFIG });
  try {
    results.push(await phase('SQLite, one process', api, [{ name: 'the same process', api }]));
  } finally {
    await api.close();
  }

  const schema = `t_bench_live_${randomBytes(4).toString('hex')}`;
  const db = new pg.Client({ connectionString: withDefaultUser(DATABASE_URL) });
  let reachable = true;
  try {
    await db.connect();
  } catch (error) {
    reachable = false;
    console.log(`\n(PostgreSQL at ${DATABASE_URL} unreachable — the two-process phase is skipped: ${(error as Error).message})`);
  }
  if (reachable) {
    await db.query(`CREATE SCHEMA ${schema}`);
    try {
      const one = await startLiveApi({ databaseUrl: DATABASE_URL, databaseSchema: schema, config: CONFIG });
      const two = await startLiveApi({ databaseUrl: DATABASE_URL, databaseSchema: schema, config: CONFIG });
      try {
        results.push(
          await phase('PostgreSQL, two processes', two, [
            { name: 'process 1 (via NOTIFY)', api: one },
            { name: 'process 2 itself', api: two },
          ]),
        );
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    } finally {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await db.end();
    }
  }
} finally {
  await writer.close();
  rmSync(scratch, { recursive: true, force: true });
}

// --- report ------------------------------------------------------------------------------------

const kib = (bytes: number) => `${fmt(bytes / 1024, 1)} KiB`;
const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MiB`;
const opened = SUBSCRIPTIONS - WARM_SUBSCRIPTIONS;
console.log(`\nMemory of the process holding the subscriptions (per subscription = growth from ${WARM_SUBSCRIPTIONS} to ${SUBSCRIPTIONS.toLocaleString('en-US')} open ÷ ${opened.toLocaleString('en-US')}):\n`);
printTable(
  ['store', 'RSS before any', `RSS at ${WARM_SUBSCRIPTIONS}`, `RSS at ${SUBSCRIPTIONS.toLocaleString('en-US')}`, 'RSS per subscription', 'V8 heap per subscription', '1,000 subs ÷ RSS before any'],
  results.map((r) => {
    const m = r.memory;
    const perRss = (m.rssAll - m.rssWarm) / opened;
    const perHeap = (m.heapAll.heapUsed + m.heapAll.external - (m.heapWarm.heapUsed + m.heapWarm.external)) / opened;
    return [r.label, mib(m.rssBefore), mib(m.rssWarm), mib(m.rssAll), kib(perRss), kib(perHeap), `${((perRss * 1000) / m.rssBefore).toFixed(2)}×`];
  }),
);

console.log(`\nFan-out of one note event to the ${GROUP_SIZE.toLocaleString('en-US')} subscribers of group A (the writer in its own process; ${EVENTS} events each after one untimed; medians):\n`);
const rows: string[][] = [];
for (const r of results) {
  for (const f of r.fanout) {
    const ratios = f.sentToLast.map((x, i) => x / f.baselinePut[i]!);
    rows.push([
      `${r.label}: write on ${f.writer}`,
      fmt(median(f.sentToLast), 1),
      fmt(Math.max(...f.sentToLast), 1),
      fmt(median(f.answeredToLast), 1),
      fmt(median(f.put), 1),
      fmt(median(f.baselinePut), 1),
      `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    ]);
  }
}
printTable(['where', 'put sent → last subscriber ms', 'max ms', 'put answered → last ms', 'that put round trip ms', 'baseline: put, no subscriber ms', 'sent → last ÷ baseline put'], rows);
console.log(
  `\nEvents received while the subscriptions opened: ${results.map((r) => `${r.label} ${r.memory.setupEvents.toLocaleString('en-US')} in ${fmt(r.memory.openSeconds)} s`).join('; ')} — one heads per subscription; \`online\` goes only to members waiting for the key (none here), so a group coming online no longer costs n·(n−1)/2 events (${((GROUP_SIZE * (GROUP_SIZE - 1)) / 2).toLocaleString('en-US')} for group A).`,
);
console.log(`total ${fmt((performance.now() - started) / 1000)} s`);
process.exit(0);
