/**
 * Question: what do 10,000 registered peers cost across two signaling nodes sharing
 * Redis — time to register them all, memory per peer on each node — next to two bare
 * `ws` servers holding the same sockets?
 *
 * Two signaling nodes (each its own child process, bench/support/signaling-child.ts,
 * `redisUrl` = REDIS_URL or redis://127.0.0.1:6379, a key prefix of this run's own,
 * deleted at the end) and two bare `ws` servers (no authentication; each answers a
 * connection with the same single OPEN frame). PEERS distinct identities (default
 * 10,000) register over raw WebSockets, a fresh token each, alternately on the first and
 * the second server of the pair, IN_FLIGHT at a time; timed from the first attempt to
 * the last OPEN. Then each server's memory is read with all held (RSS, heap after a full
 * GC) against its idle figure, and presence is probed: one peer on node one asks node two
 * about 100 peers of node one. Alternating rounds (signaling pair, bare pair), ratio =
 * median of per-round time ratios. Tokens are made before each round (not timed). The
 * per-IP and per-connection limits are raised (one load generator on one IP) and
 * `concurrentLimit` is set to PEERS; everything else is the default.
 *
 * Run: flock /tmp/conclave-bench.lock npx tsx bench/signaling-nodes.bench.ts
 *   (BENCH_PEERS, BENCH_ROUNDS to change N and rounds)
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { makePresenceToken, makeRegistrationToken } from '@conclave/shared/p2p';
import { fmt, fmtRatio, header, median, pairedRatio, printTable, verdict } from './support/harness.ts';
import { register } from './support/registration.ts';
import { forkSignaling, type ChildStats, type ForkedSignaling } from './support/signaling-child.ts';

const PEERS = Number(process.env.BENCH_PEERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const IN_FLIGHT = 64;
const RAMP_DEADLINE_MS = 60_000;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `conclave-bench:signal:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
const LOAD = { registrationsPerMinutePerIp: 1_000_000, socketsPerIp: 1_000_000, messagesPerSecond: 1_000_000, messagesPerSecondPerIp: 1_000_000, concurrentLimit: PEERS, presencePerMinutePerIp: 1_000_000 };

header('signaling, two nodes', `Question: what do ${PEERS.toLocaleString('en-US')} registered peers cost across two signaling nodes sharing Redis (time to register all, memory per peer on each node), next to two bare ws servers?`);
const started = performance.now();
console.log(`Redis ${REDIS_URL.replace(/\/\/[^@]*@/, '//…@')}, key prefix ${PREFIX} (deleted at the end); ${IN_FLIGHT} registrations in flight, peers alternate between the two servers of a pair\n`);

let t = performance.now();
const identities: DeviceIdentity[] = [];
while (identities.length < PEERS) identities.push(...(await Promise.all(Array.from({ length: Math.min(500, PEERS - identities.length) }, generateIdentity))));
console.log(`${PEERS.toLocaleString('en-US')} identities generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);

interface Ramp {
  held: WebSocket[];
  failures: Map<string, number>;
  totalMs: number;
}

async function ramp(pair: ForkedSignaling[], tokens: string[]): Promise<Ramp> {
  const held: WebSocket[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PEERS && performance.now() - start < RAMP_DEADLINE_MS) {
        const i = next++;
        const server = pair[i % 2]!;
        const attempt = await register(`${server.wsUrl}?key=peerjs&id=${identities[i]!.fingerprint}&token=${encodeURIComponent(tokens[i]!)}`);
        if (attempt.ok) held.push(attempt.ws);
        else failures.set(attempt.why, (failures.get(attempt.why) ?? 0) + 1);
      }
    }),
  );
  return { held, failures, totalMs: performance.now() - start };
}

async function closeAll(sockets: WebSocket[], pair: ForkedSignaling[]): Promise<void> {
  for (const ws of sockets) ws.terminate();
  const deadline = Date.now() + 20_000;
  for (const server of pair) {
    while ((await server.stats()).held > 0) {
      if (Date.now() > deadline) throw new Error('a server still holds sockets 20 s after they all closed');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface Round {
  ramp: Ramp;
  idle: ChildStats[];
  full: ChildStats[];
  /** Signaling only: presence asked on node two about 100 peers registered on node one. */
  presence?: { ms: number; online: number };
}

const nodes = await Promise.all([0, 1].map(() => forkSignaling({ mode: 'signaling', overrides: { ...LOAD, redisUrl: REDIS_URL, redisPrefix: PREFIX } })));
const bares = await Promise.all([0, 1].map(() => forkSignaling({ mode: 'bare' })));
const results = { signaling: [] as Round[], bare: [] as Round[] };
try {
  async function round(kind: 'signaling' | 'bare'): Promise<void> {
    const pair = kind === 'signaling' ? nodes : bares;
    const tokens = await Promise.all(identities.map((identity) => makeRegistrationToken(identity)));
    const idle = await Promise.all(pair.map((s) => s.stats(true)));
    const r = await ramp(pair, tokens);
    const full: ChildStats[] = [];
    for (const s of pair) full.push(await s.stats(true));
    let presence: Round['presence'];
    if (kind === 'signaling') {
      // Peer 0 registered on node one; peers 0, 2, 4, … are on node one, asked on node two.
      const asked = Array.from({ length: 100 }, (_, k) => identities[2 * k]!.fingerprint);
      const p0 = performance.now();
      const response = await fetch(`${pair[1]!.wsUrl.replace('ws://', 'http://').replace(/\/peerjs$/, '')}/presence?ids=${asked.join(',')}`, { headers: { authorization: `Bearer ${await makePresenceToken(identities[0]!)}` } });
      const body = (await response.json()) as { online?: string[]; error?: string };
      presence = { ms: performance.now() - p0, online: body.online?.length ?? -response.status };
    }
    results[kind].push({ ramp: r, idle, full, presence });
    await closeAll(r.held, pair);
  }

  // A warm-up of 500 registrations on each pair, untimed.
  for (const pair of [nodes, bares]) {
    const tokens = await Promise.all(identities.slice(0, 500).map((identity) => makeRegistrationToken(identity)));
    const warm = await Promise.all(tokens.map((token, i) => register(`${pair[i % 2]!.wsUrl}?key=peerjs&id=${identities[i]!.fingerprint}&token=${encodeURIComponent(token)}`)));
    await closeAll(warm.flatMap((a) => (a.ok ? [a.ws] : [])), pair);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 === 0 ? (['signaling', 'bare'] as const) : (['bare', 'signaling'] as const)) await round(kind);
  }
} finally {
  await Promise.all([...nodes, ...bares].map((s) => s.close()));
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

const sig = results.signaling;
const bare = results.bare;
const ratio = pairedRatio({ name: 's', msPerOp: sig.map((x) => x.ramp.totalMs) }, { name: 'b', msPerOp: bare.map((x) => x.ramp.totalMs) });
const failures = (x: Round[]) => {
  const all = new Map<string, number>();
  for (const y of x) for (const [why, n] of y.ramp.failures) all.set(why, (all.get(why) ?? 0) + n);
  return all.size === 0 ? 'none' : [...all].map(([why, n]) => `${why} ×${n}`).join(', ');
};
console.log(`\n${PEERS.toLocaleString('en-US')} registrations over two servers, ${ROUNDS} alternating rounds (the first signaling round sees most bundles for the first time)\n`);
printTable(
  ['pair', 'time to register all, ms (median)', 'per round', 'registrations/s', 'held (min)', 'failures', 'vs bare (time ratio)'],
  [
    ['two signaling nodes + Redis', fmt(median(sig.map((x) => x.ramp.totalMs)), 0), sig.map((x) => fmt(x.ramp.totalMs, 0)).join(', '), fmt(median(sig.map((x) => (x.ramp.held.length / x.ramp.totalMs) * 1000)), 0), String(Math.min(...sig.map((x) => x.ramp.held.length))), failures(sig), fmtRatio(ratio)],
    ['two bare ws servers', fmt(median(bare.map((x) => x.ramp.totalMs)), 0), bare.map((x) => fmt(x.ramp.totalMs, 0)).join(', '), fmt(median(bare.map((x) => (x.ramp.held.length / x.ramp.totalMs) * 1000)), 0), String(Math.min(...bare.map((x) => x.ramp.held.length))), failures(bare), '1.00×'],
  ],
);

const kib = (bytes: number) => bytes / 1024;
const mib = (bytes: number) => bytes / 1024 / 1024;
console.log('\nmemory per server process with all held (heap after a full GC; Δ = all held − idle, per peer it holds; medians of rounds)\n');
const memRows = (name: string, x: Round[]) =>
  [0, 1].map((k) => {
    const held = median(x.map((y) => y.full[k]!.held));
    const dRss = median(x.map((y) => (y.full[k]!.rssBytes - y.idle[k]!.rssBytes) / Math.max(1, y.full[k]!.held)));
    const dHeap = median(x.map((y) => (y.full[k]!.heapUsedBytes - y.idle[k]!.heapUsedBytes) / Math.max(1, y.full[k]!.held)));
    return [`${name} ${k + 1}`, fmt(held, 0), fmt(mib(median(x.map((y) => y.full[k]!.rssBytes))), 1), fmt(kib(dRss), 1), fmt(mib(median(x.map((y) => y.full[k]!.heapUsedBytes))), 1), fmt(kib(dHeap), 1)];
  });
printTable(['server', 'peers held', 'RSS MiB', 'Δ RSS KiB/peer', 'heap MiB', 'Δ heap KiB/peer'], [...memRows('signaling node', sig), ...memRows('bare ws', bare)]);

console.log(`\npresence asked on node two about 100 peers registered on node one: ${sig.map((x) => (x.presence!.online >= 0 ? `${x.presence!.online} online in ${fmt(x.presence!.ms, 1)} ms` : `HTTP ${-x.presence!.online}`)).join('; ')}`);
const allHeld = sig.every((x) => x.ramp.held.length === PEERS);
console.log(`verdict: ${allHeld ? 'held' : 'NOT held'} — ${Math.min(...sig.map((x) => x.ramp.held.length)).toLocaleString('en-US')} of ${PEERS.toLocaleString('en-US')} peers registered across two nodes in every round; time ${fmtRatio(ratio)} two bare ws servers`);
verdict(`signaling: ${PEERS.toLocaleString('en-US')} peers registered across two nodes`, `${Math.min(...sig.map((x) => x.ramp.held.length)).toLocaleString('en-US')} held; time ${fmtRatio(ratio)} two bare ws servers; heap ${fmt(kib(median(sig.flatMap((x) => [0, 1].map((k) => (x.full[k]!.heapUsedBytes - x.idle[k]!.heapUsedBytes) / Math.max(1, x.full[k]!.held))))), 1)} KiB/peer per node`, `all ${PEERS.toLocaleString('en-US')} held`, allHeld);
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
