/**
 * Question: what do two storage API processes on one PostgreSQL serve together
 * (aggregate req/s of authenticated, validated note puts and gets, 20 concurrent
 * clients on loopback) next to one process, in the same run — and what does counting
 * the rate limits in Redis cost one process?
 *
 * Subjects, all real `storage-api/src/server.ts` processes (bench/support/api-nodes.ts)
 * on one fresh PostgreSQL schema `t_bench_<random>` (dropped afterwards), logging at
 * `info` to /dev/null, the rate limit raised out of the way (one load generator on one
 * IP and one session):
 * - 1 process, limits in memory (REDIS_URL unset: one node as before);
 * - 1 process, limits in Redis (REDIS_URL set, a fresh key prefix, deleted afterwards);
 * - 2 processes, limits in Redis (the load split evenly: each takes half the clients).
 * The load is always two autocannon instances of 10 connections each (both on the one
 * process, or one per process), so the load generator costs the same in every subject.
 * Puts are `POST /trpc/notes.put` of a NEW envelope (version 1 of a distinct note, 4 KiB
 * ciphertext, sealed before timing) into one group, as bench/storage-api.bench.ts does;
 * gets are `GET /trpc/notes.get` of notes just written. Subjects take turns in each of
 * BENCH_ROUNDS rounds (default 3) of about BENCH_SECONDS each (default 3), the order
 * rotated every round.
 *
 * Each run also reports the CPU (seconds per wall second, from /proc) that the API
 * process(es), the load generator and the whole machine used, so a ratio can be read
 * against what was free: a second process can only turn idle CPU into requests.
 *
 * What the figure means: the machine's cores run both API processes, PostgreSQL, Redis
 * and the load generator, so with 2 cores two processes cannot double anything; the
 * ratio shows how much of the spare CPU a second process turns into requests, not how
 * N machines scale. And every put goes to one group, which PostgreSQL serialises (the
 * per-group lock that keeps list cursors in commit order), on any number of processes.
 *
 * Run: flock /tmp/conclave-bench.lock npx tsx bench/storage-api-nodes.bench.ts
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signIn } from '@conclave/shared/client';
import { createGroup, generateIdentity, generationKeys, importAeadKey, newNoteId, sealNote } from '@conclave/shared/crypto';
import type { NoteId } from '@conclave/shared/protocol';
import { withDefaultUser } from '../storage-api/src/store/postgres.ts';
import { machineCpuSeconds, processCpuSeconds, startApiNode, type ApiNode } from './support/api-nodes.ts';
import { fmt, fmtRatio, header, median, pairedRatio, printTable, prng, type Samples } from './support/harness.ts';

const CONNECTIONS = 20;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_SECONDS = 1;
const BODY_CIPHERTEXT = 4096;
const MAX_POOL = 40_000;
const DATABASE_URL = process.env.CONCLAVE_BENCH_DATABASE_URL ?? process.env.CONCLAVE_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
const REDIS_URL = process.env.CONCLAVE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

header(
  'storage API: two processes on one PostgreSQL',
  `Question: with ${CONNECTIONS} concurrent clients on loopback, how many note puts (4 KiB, CAS) and gets a second API process adds on one PostgreSQL (rate limits shared in Redis), and what Redis costs one process.`,
);
const started = performance.now();

// --- one author, one group, a pool of sealed envelopes ---------------------------------------

const identity = await generateIdentity();
const group = await createGroup(identity);
const groupId = group.state.groupId;
const noteKey = await importAeadKey((await generationKeys(group.seed, groupId, 0)).noteKey);
const plaintextBody = 'x'.repeat(BODY_CIPHERTEXT - 28);
const pool: Array<{ noteId: NoteId; body: string }> = [];
let next = 0;
const stored: NoteId[] = [];

async function fillPool(count: number): Promise<void> {
  const target = Math.min(count, MAX_POOL);
  const t0 = performance.now();
  const before = pool.length;
  while (pool.length < target) {
    const batch = Math.min(256, target - pool.length);
    pool.push(
      ...(await Promise.all(
        Array.from({ length: batch }, async () => {
          const noteId = newNoteId();
          const envelope = await sealNote(identity, { groupId, noteId, version: 1, generation: 0 }, noteKey, { title: 'bench', body: plaintextBody });
          return { noteId, body: JSON.stringify({ envelope }) };
        }),
      )),
    );
  }
  if (pool.length > before) console.log(`  (sealed ${pool.length - before} envelopes in ${((performance.now() - t0) / 1000).toFixed(1)} s; pool ${pool.length})`);
}

// --- load: two autocannon instances, half the clients each -----------------------------------

interface Run {
  rps: number;
  p50: number;
  /** The worse of the two instances' p99. */
  p99: number;
  ok: number;
  failed: number;
  /** Cores' worth of CPU the API process(es) used during the run (1 = one core busy). */
  apiCores: number;
  /** The same for this process, the load generator. */
  generatorCores: number;
  /** The whole machine's busy cores (everything: PostgreSQL, Redis, other jobs). */
  machineCores: number;
}

function cannon(options: autocannon.Options, stopAfterMs: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ connections: CONNECTIONS / 2, pipelining: 1, ...options }, (error, result) => {
      clearTimeout(timer);
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(result);
    });
    const timer = setTimeout(() => instance.stop(), stopAfterMs);
  });
}

/** What one generator sends (autocannon's options but the address). */
type Requests = Omit<autocannon.Options, 'url'>;

/** The API nodes whose CPU a run's figures report. */
const nodesOf = new Map<string, ApiNode>();

async function load(urls: [string, string], requests: Requests, seconds: number): Promise<Run> {
  const nodes = [...new Set(urls)].map((url) => nodesOf.get(url)!);
  const cpu = () => nodes.reduce((n, node) => n + node.cpuSeconds(), 0);
  const [apiBefore, generatorBefore, machineBefore, t0] = [cpu(), processCpuSeconds(process.pid), machineCpuSeconds(), performance.now()];
  const results = await Promise.all(urls.map((url) => cannon({ ...requests, url, duration: seconds + 5 }, seconds * 1000)));
  const wall = (performance.now() - t0) / 1000;
  const machine = machineCpuSeconds();
  const ok = results.reduce((n, r) => n + r['2xx'], 0);
  const duration = Math.max(...results.map((r) => r.duration));
  return {
    apiCores: (cpu() - apiBefore) / wall,
    generatorCores: (processCpuSeconds(process.pid) - generatorBefore) / wall,
    machineCores: (machine.busy - machineBefore.busy) / wall,
    rps: ok / duration,
    p50: median(results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    ok,
    failed: results.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0),
  };
}

/** Puts of fresh envelopes up to pool index `limit`: each generator stops after half of them (or the time). */
function put(token: string, limit: number): Requests {
  const amount = Math.floor((Math.min(limit, pool.length) - next) / 2) - CONNECTIONS;
  if (amount < CONNECTIONS) throw new Error('the envelope pool is spent: raise MAX_POOL or lower BENCH_SECONDS');
  return {
    amount,
    requests: [
      {
        method: 'POST',
        path: '/trpc/notes.put',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        setupRequest: (request, context) => {
          const note = next < limit ? pool[next++] : undefined;
          if (!note) throw new Error('the envelope pool ran out: raise MAX_POOL or lower BENCH_SECONDS');
          (context as { noteId?: NoteId }).noteId = note.noteId;
          return { ...request, body: note.body };
        },
        onResponse: (status, _body, context) => {
          if (status === 200) stored.push((context as { noteId: NoteId }).noteId);
        },
      },
    ],
  };
}

function get(token: string): Requests {
  const pick = prng(7);
  const paths = stored.slice(0, 5000).map((noteId) => `/trpc/notes.get?input=${encodeURIComponent(JSON.stringify({ groupId, noteId }))}`);
  return { requests: [{ method: 'GET', headers: { authorization: `Bearer ${token}` }, setupRequest: (request) => ({ ...request, path: paths[Math.floor(pick() * paths.length)]! }) }] };
}

// --- the run ------------------------------------------------------------------------------------

async function pgAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: withDefaultUser(DATABASE_URL) });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Subject {
  name: string;
  urls: [string, string];
  puts: Run[];
  gets: Run[];
}

const schema = `t_bench_${randomBytes(5).toString('hex')}`;
const redisPrefix = `conclave-bench:${randomBytes(5).toString('hex')}:`;
const redis = new Redis(REDIS_URL);
const nodes: ApiNode[] = [];
const subjects: Subject[] = [];
await pgAdmin(`CREATE SCHEMA ${schema}`);
try {
  const common = { DATABASE_URL, CONCLAVE_DB_SCHEMA: schema, CONCLAVE_RATE_LIMIT_PER_MINUTE: '1000000000' };
  // One after the other: the first migrates the schema.
  const alone = await startApiNode(common);
  nodes.push(alone);
  const first = await startApiNode({ ...common, REDIS_URL, CONCLAVE_REDIS_PREFIX: redisPrefix });
  nodes.push(first);
  const second = await startApiNode({ ...common, REDIS_URL, CONCLAVE_REDIS_PREFIX: redisPrefix });
  nodes.push(second);
  for (const node of nodes) nodesOf.set(node.url, node);
  subjects.push(
    { name: '1 process, limits in memory', urls: [alone.url, alone.url], puts: [], gets: [] },
    { name: '1 process, limits in Redis', urls: [first.url, first.url], puts: [], gets: [] },
    { name: '2 processes, limits in Redis', urls: [first.url, second.url], puts: [], gets: [] },
  );

  const session = await signIn(alone.url, identity);
  await session.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });

  // Warm-up of every subject; the put rate it shows sizes the pool.
  await fillPool(3000);
  let fastest = 0;
  for (const s of subjects) {
    const warm = await load(s.urls, put(session.token, pool.length), WARMUP_SECONDS);
    if (warm.failed > 0) throw new Error(`${warm.failed} warm-up puts failed on "${s.name}"`);
    fastest = Math.max(fastest, warm.rps);
    await load(s.urls, get(session.token), WARMUP_SECONDS);
  }
  await fillPool(next + Math.ceil(fastest * 2 * SECONDS * ROUNDS * subjects.length) + 2 * CONNECTIONS * ROUNDS * subjects.length);
  const share = Math.floor((pool.length - next) / (ROUNDS * subjects.length));

  for (let r = 0; r < ROUNDS; r++) {
    const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]!);
    for (const s of order) s.puts.push(await load(s.urls, put(session.token, next + share), SECONDS));
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]!);
    for (const s of order) s.gets.push(await load(s.urls, get(session.token), SECONDS));
  }
} finally {
  await Promise.allSettled(nodes.map((n) => n.close()));
  await pgAdmin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const keys = await redis.keys(`${redisPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

// --- report -------------------------------------------------------------------------------------

const asSamples = (name: string, runs: Run[]): Samples => ({ name, msPerOp: runs.map((r) => 1000 / r.rps) });
console.log(`\n${CONNECTIONS} connections (two generators of ${CONNECTIONS / 2}), ${ROUNDS} rotated rounds of ~${SECONDS} s per subject; medians over rounds\n`);
const rows: string[][] = [];
for (const op of ['puts', 'gets'] as const) {
  for (const s of subjects) {
    const runs = s[op];
    const cores = (pick: (r: Run) => number) => fmt(median(runs.map(pick)), 2);
    rows.push([
      `note ${op === 'puts' ? 'put' : 'get'}`,
      s.name,
      fmt(median(runs.map((r) => r.rps)), 0),
      fmt(median(runs.map((r) => r.p50)), 1),
      fmt(median(runs.map((r) => r.p99)), 1),
      cores((r) => r.apiCores),
      cores((r) => r.generatorCores),
      cores((r) => r.machineCores),
      String(runs.reduce((n, r) => n + r.failed, 0)),
    ]);
  }
}
printTable(['operation', 'subject', 'req/s', 'p50 ms', 'p99 ms', 'API cores', 'generator cores', `machine busy (of ${availableParallelism()})`, 'non-2xx/errors'], rows);
console.log('');
const ratios: string[][] = [];
const [memory, oneRedis, twoRedis] = subjects as [Subject, Subject, Subject];
for (const op of ['puts', 'gets'] as const) {
  const what = `note ${op === 'puts' ? 'put' : 'get'}`;
  // baseline ms/op ÷ subject ms/op = subject req/s ÷ baseline req/s, per round.
  ratios.push([what, '2 processes ÷ 1 process (both with Redis)', fmtRatio(pairedRatio(asSamples('base', oneRedis[op]), asSamples('two', twoRedis[op])))]);
  ratios.push([what, '1 process with Redis ÷ 1 process in memory', fmtRatio(pairedRatio(asSamples('base', memory[op]), asSamples('redis', oneRedis[op])))]);
}
printTable(['operation', 'aggregate req/s ratio', 'median (min–max)'], ratios);
const failed = subjects.reduce((n, s) => n + [...s.puts, ...s.gets].reduce((m, r) => m + r.failed, 0), 0);
if (failed > 0) console.log(`\nINVALID: ${failed} requests failed`);
console.log(
  `\nnote: "cores" are CPU seconds per wall second during the runs (medians): the API process(es), the load generator (this process), and the whole machine (PostgreSQL, Redis and any other job included). ${availableParallelism()} cores run the API process(es), PostgreSQL, Redis and the load generator together: a second process can only use CPU the first leaves idle, so the 2-process ratio is a floor for machines of their own, not a scaling law. Every put goes to one group, serialised by PostgreSQL's per-group lock on any number of processes.`,
);
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
