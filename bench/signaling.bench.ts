/**
 * Question: how many registered peers does the signaling server hold at once, what does
 * each cost in memory, and how fast does it relay? Aim: ≥ 2,000 peers held.
 *
 * (a) Registrations: N (default 2,000) distinct identities register over raw WebSockets
 *     (`ws://127.0.0.1:PORT/peerjs/peerjs?key=peerjs&id=<fingerprint>&token=<token>`,
 *     a fresh token each), IN_FLIGHT at a time, until every one has its OPEN frame or
 *     RAMP_DEADLINE_MS passes. Timed from the first attempt to the last OPEN, with the
 *     time at each checkpoint on the way; then held HOLD_MS and counted again with the
 *     server's `online()`. Server memory (RSS, heap after a full GC) is read idle and
 *     with all N held. Baseline, same run, alternating rounds: the same N connections
 *     (same URLs) to a bare `ws` server with no authentication that answers each with
 *     the same single OPEN frame. Tokens are made before each round (not timed).
 * (b) Relay: two registered clients exchange RELAY_MESSAGES CANDIDATE frames through the
 *     server (half each way, RELAY_WINDOW in flight per direction; each receiver parses
 *     every frame and checks its type and `src`), in msgs/s; baseline, same run,
 *     alternating rounds: the bare server relaying the same frames (JSON.parse, set src,
 *     JSON.stringify, send to `dst`).
 * (c) Default limits: the same N registrations from one IP, and a burst of 1,000 frames
 *     on one connection, against a server with the default config — what a load test
 *     (or many peers behind one NAT address) meets before anything else. Then N peers
 *     from one IP (registrations allowed) sending HEARTBEAT every 5 s as PeerJS does,
 *     against the default per-IP message limit: how many heartbeats are dropped.
 *
 * The per-IP and per-connection limits are raised for (a) and (b) — one load generator
 * on one IP would otherwise be refused after `registrationsPerMinutePerIp` upgrades
 * and throttled at `messagesPerSecond`; the config used is printed. Servers run in
 * child processes (bench/support/signaling-child.ts): the server gets a core of its own
 * and its memory is its own.
 *
 * Run: npx tsx bench/signaling.bench.ts   (BENCH_PEERS, BENCH_ROUNDS to change N and rounds)
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { generateIdentity, signLabelled, type DeviceIdentity } from '@conclave/shared/crypto';
import { LABELS, verifyLabelled } from '@conclave/shared/verify';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { loadConfig, type Config } from '../signaling-server/src/config.ts';
import { fmt, fmtRatio, header, median, pairedRatio, printTable, verdict, type Samples } from './support/harness.ts';
import { register } from './support/registration.ts';
import { forkSignaling, type ChildStats, type ForkedSignaling } from './support/signaling-child.ts';

const PEERS = Number(process.env.BENCH_PEERS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 64;
const RAMP_DEADLINE_MS = 60_000;
const HOLD_MS = 3000;
const CHECKPOINTS = [250, 500, 1000, 1500, 2000, 3000, 5000].filter((n) => n < PEERS).concat(PEERS);
const RELAY_MESSAGES = 20_000;
const RELAY_WINDOW = 100;
const RELAY_ROUNDS = 7;
const BURST = 1000;
const TARGET_PEERS = 2000;
const HEARTBEAT_INTERVAL_MS = 5000;
const HEARTBEAT_PROBE_MS = 10_000;

/** Raised for the load runs; everything else is the default. */
const LOAD_OVERRIDES: Partial<Config> = { registrationsPerMinutePerIp: 1_000_000, socketsPerIp: 1_000_000, messagesPerSecond: 1_000_000, messagesPerSecondPerIp: 1_000_000 };

header('signaling server', `Question: can the signaling server hold ${PEERS.toLocaleString('en-US')} registered peers (aim ≥ ${TARGET_PEERS.toLocaleString('en-US')}), at what memory per peer, and how fast does it relay CANDIDATE frames — next to a bare ws server?`);
const started = performance.now();

const describeConfig = (c: Config) =>
  `registrationsPerMinutePerIp=${c.registrationsPerMinutePerIp}, socketsPerIp=${c.socketsPerIp}, messagesPerSecond=${c.messagesPerSecond} (burst ${c.messagesPerSecond * 2}), messagesPerSecondPerIp=${c.messagesPerSecondPerIp}, concurrentLimit=${c.concurrentLimit}, tokenMaxAgeMs=${c.tokenMaxAgeMs}, maxMessageBytes=${c.maxMessageBytes}`;
console.log(`load config (a, b): ${describeConfig(loadConfig({}, { port: 0, ...LOAD_OVERRIDES }))}`);
const defaultConfig = loadConfig({}, { port: 0 });
console.log(`default config (c): ${describeConfig(defaultConfig)}`);
console.log(`clients: ${IN_FLIGHT} registrations in flight, ramp stops at ${RAMP_DEADLINE_MS / 1000} s; relay window ${RELAY_WINDOW} per direction\n`);

// --- identities ------------------------------------------------------------------------------------

let t = performance.now();
const identities: DeviceIdentity[] = [];
while (identities.length < PEERS) identities.push(...(await Promise.all(Array.from({ length: Math.min(250, PEERS - identities.length) }, generateIdentity))));
console.log(`${PEERS} identities generated (concurrently, 250 at a time) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

/** Fresh single-use tokens for every identity, made concurrently. */
async function freshTokens(): Promise<string[]> {
  return Promise.all(identities.map((identity) => makeRegistrationToken(identity)));
}
t = performance.now();
await freshTokens();
console.log(`${PEERS} registration tokens made in ${((performance.now() - t) / 1000).toFixed(2)} s (made again before every round, untimed)\n`);

// --- clients ---------------------------------------------------------------------------------------

const urlFor = (server: ForkedSignaling, i: number, tokens: string[]) => `${server.wsUrl}?key=peerjs&id=${identities[i]!.fingerprint}&token=${encodeURIComponent(tokens[i]!)}`;

interface Ramp {
  held: WebSocket[];
  /** Which identity each held socket registered as. */
  heldIndex: number[];
  failures: Map<string, number>;
  /** ms from the first attempt at which the n-th OPEN arrived, per CHECKPOINTS. */
  at: Map<number, number>;
  totalMs: number;
  deadlineHit: boolean;
}

async function ramp(server: ForkedSignaling, tokens: string[]): Promise<Ramp> {
  const held: WebSocket[] = [];
  const heldIndex: number[] = [];
  const failures = new Map<string, number>();
  const at = new Map<number, number>();
  let next = 0;
  let deadlineHit = false;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PEERS) {
        if (performance.now() - start > RAMP_DEADLINE_MS) {
          deadlineHit = true;
          return;
        }
        const i = next++;
        const attempt = await register(urlFor(server, i, tokens));
        if (attempt.ok) {
          held.push(attempt.ws);
          heldIndex.push(i);
          if (CHECKPOINTS.includes(held.length)) at.set(held.length, performance.now() - start);
        } else failures.set(attempt.why, (failures.get(attempt.why) ?? 0) + 1);
      }
    }),
  );
  return { held, heldIndex, failures, at, totalMs: performance.now() - start, deadlineHit };
}

async function closeAll(sockets: WebSocket[], server: ForkedSignaling): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 5000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close();
        }),
    ),
  );
  // The next round registers the same ids: wait until the server has let go of them all.
  const deadline = Date.now() + 10_000;
  while ((await server.stats()).held > 0) {
    if (Date.now() > deadline) throw new Error('the server still holds sockets 10 s after they all closed');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A CANDIDATE payload as PeerJS sends it (an ICE candidate of realistic length). */
const frameOf = (n: number) => ({
  candidate: {
    candidate: `candidate:842163049 1 udp 1677729535 203.0.113.${n % 250} ${50000 + (n % 10000)} typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sO9a network-cost 999`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'sO9a',
  },
  type: 'data',
  connectionId: 'dc_k2x8v1q9w3zt',
});

const kib = (bytes: number) => bytes / 1024;
const mib = (bytes: number) => bytes / 1024 / 1024;

// --- (a) registrations -------------------------------------------------------------------------------

const signaling = await forkSignaling({ mode: 'signaling', overrides: LOAD_OVERRIDES });
const bare = await forkSignaling({ mode: 'bare' });
try {
  interface RoundResult {
    ramp: Ramp;
    idle: ChildStats;
    full: ChildStats;
    afterHold: ChildStats;
    openAfterHold: number;
  }
  const results = { signaling: [] as RoundResult[], bare: [] as RoundResult[] };
  const servers = { signaling, bare };

  async function round(kind: 'signaling' | 'bare'): Promise<void> {
    const server = servers[kind];
    const tokens = await freshTokens();
    const idle = await server.stats(true);
    const r = await ramp(server, tokens);
    const full = await server.stats(true);
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    const afterHold = await server.stats();
    const openAfterHold = r.held.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    results[kind].push({ ramp: r, idle, full, afterHold, openAfterHold });
    await closeAll(r.held, server);
  }

  // A warm-up of 200 registrations on each, untimed.
  for (const server of [signaling, bare]) {
    const tokens = await freshTokens();
    const warm = await Promise.all(Array.from({ length: 200 }, (_, i) => register(urlFor(server, i, tokens))));
    await closeAll(warm.flatMap((a) => (a.ok ? [a.ws] : [])), server);
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order: Array<'signaling' | 'bare'> = r % 2 === 0 ? ['signaling', 'bare'] : ['bare', 'signaling'];
    for (const kind of order) await round(kind);
  }

  const sig = results.signaling;
  const base = results.bare;
  console.log(`(a) ${PEERS.toLocaleString('en-US')} registrations, ${ROUNDS} alternating rounds; cumulative time to the n-th OPEN (medians), ratio = median of per-round ratios\n`);
  const rows = CHECKPOINTS.map((n) => {
    const s = sig.map((x) => x.ramp.at.get(n));
    const b = base.map((x) => x.ramp.at.get(n));
    if (s.some((v) => v === undefined) || b.some((v) => v === undefined)) return [n.toLocaleString('en-US'), s.every((v) => v === undefined) ? 'not reached' : 'not in every round', '', ''];
    const ratio = pairedRatio({ name: 's', msPerOp: s as number[] }, { name: 'b', msPerOp: b as number[] });
    return [n.toLocaleString('en-US'), fmt(median(s as number[]), 0), fmt(median(b as number[]), 0), fmtRatio(ratio)];
  });
  printTable(['peers with OPEN', 'signaling ms', 'bare ws ms', 'ratio'], rows);
  // The issue's target: time to the last of 2,000 OPENs ≤ 2× the bare server.
  const lastN = Math.min(PEERS, TARGET_PEERS);
  const sLast = sig.map((x) => x.ramp.at.get(lastN));
  const bLast = base.map((x) => x.ramp.at.get(lastN));
  if (sLast.every((v) => v !== undefined) && bLast.every((v) => v !== undefined)) {
    const r = pairedRatio({ name: 's', msPerOp: sLast as number[] }, { name: 'b', msPerOp: bLast as number[] });
    console.log(`
per round, time to ${lastN.toLocaleString('en-US')} OPENs: signaling ${sLast.map((v) => fmt(v!, 0)).join(', ')} ms; bare ${bLast.map((v) => fmt(v!, 0)).join(', ')} ms (the server remembers verified bundles: its first round sees ${Math.max(0, PEERS - 200).toLocaleString('en-US')} of them for the first time, later rounds are devices reconnecting)`);
    console.log(`verdict (target ≤ 2.00× a bare ws server): ${r.median <= 2 ? 'met' : 'NOT met'} — ${fmtRatio(r)}`);
    verdict(`signaling: time to ${lastN.toLocaleString('en-US')} registrations vs a bare ws server`, fmtRatio(r), '≤ 2×', r.median <= 2);
    // CPU the server process spent per registration (all its threads, from the idle to the full reading; GC included):
    // steadier than wall time on a shared machine, and what a registration costs the server.
    const cpuPer = (x: RoundResult[]) => x.map((y) => (y.full.cpuMicros - y.idle.cpuMicros) / Math.max(1, y.ramp.held.length));
    const sCpu = cpuPer(sig);
    const bCpu = cpuPer(base);
    console.log(
      `server CPU per registration: signaling ${sCpu.map((v) => fmt(v, 0)).join(', ')} µs; bare ${bCpu.map((v) => fmt(v, 0)).join(', ')} µs per round — ${fmtRatio(pairedRatio({ name: 's', msPerOp: sCpu }, { name: 'b', msPerOp: bCpu }))} (rounds after the first: ${fmt(median(sCpu.slice(1)), 0)} vs ${fmt(median(bCpu.slice(1)), 0)} µs)`,
    );
    // The floor: a registration must verify its token's Ed25519 signature. Its CPU cost here, in this process:
    const statements = identities.slice(0, 500).map((identity, n) => ({ identity, value: { id: identity.fingerprint, at: n, nonce: 'floor-probe-nonce-0000' } }));
    const signatures = await Promise.all(statements.map(({ identity, value }) => signLabelled(identity, LABELS.signalingToken, value)));
    const c0 = process.cpuUsage();
    const okAll = await Promise.all(statements.map(({ identity, value }, n) => verifyLabelled(identity.signKeys.publicBytes, signatures[n]!, LABELS.signalingToken, value)));
    const c1 = process.cpuUsage(c0);
    const verifyMicros = (c1.user + c1.system) / statements.length;
    if (okAll.some((ok) => !ok)) throw new Error('floor probe: a signature did not verify');
    const bareMicros = median(bCpu.slice(1));
    console.log(
      `floor: one Ed25519 verify (the token's) costs ${fmt(verifyMicros, 0)} µs of CPU here, against ${fmt(bareMicros, 0)} µs for a whole bare registration: bare + one verify = ${fmt((bareMicros + verifyMicros) / bareMicros, 2)}× in server CPU`,
    );
  }
  const perSecond = (x: RoundResult[]) => median(x.map((y) => (y.ramp.held.length / y.ramp.totalMs) * 1000));
  console.log(`\nregistrations per second, whole ramp: signaling ${fmt(perSecond(sig), 0)}/s, bare ${fmt(perSecond(base), 0)}/s`);

  const heldRow = (name: string, x: RoundResult[]) => {
    const opened = x.map((y) => y.ramp.held.length);
    const failures = new Map<string, number>();
    for (const y of x) for (const [why, n] of y.ramp.failures) failures.set(why, (failures.get(why) ?? 0) + n);
    return [
      name,
      `${Math.min(...opened)}–${Math.max(...opened)} of ${PEERS}`,
      `${Math.min(...x.map((y) => y.afterHold.held))} / ${Math.min(...x.map((y) => y.openAfterHold))}`,
      failures.size === 0 ? 'none' : [...failures].map(([why, n]) => `${why} ×${n}`).join(', '),
      x.some((y) => y.ramp.deadlineHit) ? 'yes' : 'no',
    ];
  };
  console.log('');
  printTable(['server', 'got OPEN (min–max over rounds)', `held after ${HOLD_MS / 1000} s: server / client (min)`, 'failures (all rounds)', 'deadline hit'], [heldRow('signaling', sig), heldRow('bare ws', base)]);

  // RSS seldom goes back to the OS between rounds, so its growth is read from the first
  // idle figure (fresh process, after the warm-up) to the highest figure with all held.
  const memRow = (name: string, x: RoundResult[]) => {
    const n = Math.max(...x.map((y) => y.ramp.held.length));
    const idleRss = x[0]!.idle.rssBytes;
    const peakRss = Math.max(...x.map((y) => y.full.rssBytes));
    const heap = median(x.map((y) => y.full.heapUsedBytes));
    const dHeap = median(x.map((y) => (y.full.heapUsedBytes - y.idle.heapUsedBytes) / Math.max(1, y.ramp.held.length)));
    return [name, fmt(mib(idleRss), 1), `${fmt(mib(peakRss), 1)} (${fmt(n, 0)} held)`, fmt(kib((peakRss - idleRss) / n), 1), fmt(mib(heap), 1), fmt(kib(dHeap), 1)];
  };
  console.log('\nserver process memory (its own child process; heap read after a full GC, median of rounds)\n');
  printTable(['server', 'idle RSS MiB', 'peak RSS MiB, all held', 'Δ RSS KiB/peer', 'heap MiB, all held', 'Δ heap KiB/peer'], [memRow('signaling', sig), memRow('bare ws', base)]);
  const minHeld = Math.min(...sig.map((y) => Math.min(y.ramp.held.length, y.afterHold.held)));
  console.log(`\nverdict: ${minHeld >= TARGET_PEERS ? 'met' : 'NOT met'} — at least ${minHeld.toLocaleString('en-US')} registered peers held in every round (aim ≥ ${TARGET_PEERS.toLocaleString('en-US')})`);

  // --- (b) relay -------------------------------------------------------------------------------------

  const frames = Array.from({ length: 64 }, (_, n) => frameOf(n));

  /** Sends `count` frames a→b, keeping `RELAY_WINDOW` in flight; resolves when b has them all. */
  function direction(a: WebSocket, b: WebSocket, aId: string, bId: string, count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let sent = 0;
      let received = 0;
      const send = () => a.send(JSON.stringify({ type: 'CANDIDATE', dst: bId, payload: frames[sent++ % frames.length] }));
      const onMessage = (data: WebSocket.RawData) => {
        const message = JSON.parse(data.toString()) as { type?: string; src?: string };
        if (message.type !== 'CANDIDATE' || message.src !== aId) {
          b.off('message', onMessage);
          reject(new Error(`relay: got ${message.type} from ${message.src}`));
          return;
        }
        received++;
        if (sent < count) send();
        if (received === count) {
          b.off('message', onMessage);
          resolve();
        }
      };
      b.on('message', onMessage);
      while (sent < Math.min(RELAY_WINDOW, count)) send();
    });
  }

  interface Pair {
    a: WebSocket;
    b: WebSocket;
  }
  async function openPair(server: ForkedSignaling): Promise<Pair> {
    const tokens = await Promise.all([0, 1].map((i) => makeRegistrationToken(identities[i]!)));
    const [a, b] = await Promise.all([0, 1].map((i) => register(urlFor(server, i, tokens))));
    if (!a!.ok || !b!.ok) throw new Error(`relay pair refused: ${a!.ok ? '' : a!.why} ${b!.ok ? '' : b!.why}`);
    return { a: a!.ws, b: b!.ws };
  }
  const pairs = { signaling: await openPair(signaling), bare: await openPair(bare) };
  const [aId, bId] = [identities[0]!.fingerprint, identities[1]!.fingerprint];
  async function exchange(kind: 'signaling' | 'bare', total: number): Promise<number> {
    const { a, b } = pairs[kind];
    const start = performance.now();
    await Promise.all([direction(a, b, aId, bId, total / 2), direction(b, a, bId, aId, total / 2)]);
    return performance.now() - start;
  }
  await exchange('signaling', 2000);
  await exchange('bare', 2000);
  const relay: Record<'signaling' | 'bare', Samples> = { signaling: { name: 'signaling', msPerOp: [] }, bare: { name: 'bare', msPerOp: [] } };
  for (let r = 0; r < RELAY_ROUNDS; r++) {
    const order: Array<'signaling' | 'bare'> = r % 2 === 0 ? ['signaling', 'bare'] : ['bare', 'signaling'];
    for (const kind of order) relay[kind].msPerOp.push(await exchange(kind, RELAY_MESSAGES));
  }
  const relayStats = await signaling.stats();
  const rate = (s: Samples) => median(s.msPerOp.map((ms) => (RELAY_MESSAGES / ms) * 1000));
  console.log(`\n(b) relay: ${RELAY_MESSAGES.toLocaleString('en-US')} CANDIDATE frames (~${JSON.stringify({ type: 'CANDIDATE', dst: bId, payload: frames[0] }).length} B each) between two registered clients, half each way, ${RELAY_ROUNDS} alternating rounds\n`);
  printTable(
    ['server', 'ms per exchange', 'msgs/s', 'vs bare (time ratio)'],
    [
      ['signaling', fmt(median(relay.signaling.msPerOp), 0), fmt(rate(relay.signaling), 0), fmtRatio(pairedRatio(relay.signaling, relay.bare))],
      ['bare ws relay', fmt(median(relay.bare.msPerOp), 0), fmt(rate(relay.bare), 0), '1.00×'],
    ],
  );
  console.log(`signaling server counters after the relay: refused ${relayStats.refused}, dropped ${JSON.stringify(relayStats.dropped)}`);
  await Promise.all([pairs.signaling.a, pairs.signaling.b, pairs.bare.a, pairs.bare.b].map((ws) => new Promise<void>((resolve) => (ws.once('close', () => resolve()), ws.close()))));
} finally {
  await Promise.all([signaling.close(), bare.close()]);
}

// --- (c) default limits ----------------------------------------------------------------------------

const defaults = await forkSignaling({ mode: 'signaling', overrides: {} });
try {
  const r = await ramp(defaults, await freshTokens());
  const afterRamp = await defaults.stats();
  console.log(`\n(c) default config, one client IP: ${r.held.length.toLocaleString('en-US')} of ${PEERS.toLocaleString('en-US')} registrations got OPEN in ${fmt(r.totalMs / 1000, 1)} s; refused: ${[...r.failures].map(([why, n]) => `${why} ×${n}`).join(', ') || 'none'} (server counted ${afterRamp.refused})`);
  if (r.held.length >= 2) {
    // A burst on one connection, as fast as the client can write: how much gets through.
    const [a, b] = [r.held[0]!, r.held[1]!];
    const dropsBefore = afterRamp.dropped?.rateLimited ?? 0;
    let delivered = 0;
    b.on('message', () => delivered++);
    const dst = identities[r.heldIndex[1]!]!.fingerprint;
    const payload = frameOf(0);
    for (let i = 0; i < BURST; i++) a.send(JSON.stringify({ type: 'CANDIDATE', dst, payload }));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterBurst = await defaults.stats();
    console.log(
      `    a burst of ${BURST} CANDIDATE frames on one connection: ${delivered} delivered within 1 s, ${(afterBurst.dropped?.rateLimited ?? 0) - dropsBefore} dropped as rate-limited (messagesPerSecond=${defaultConfig.messagesPerSecond}, burst ${defaultConfig.messagesPerSecond * 2})`,
    );
  }
  await closeAll(r.held, defaults);
} finally {
  await defaults.close();
}

// Heartbeats: PeerJS clients send HEARTBEAT every 5 s (peerjs `pingInterval`), and they
// count against the per-IP budget like any frame. PEERS peers behind one address, with
// registrations allowed but the message limits at their defaults.
const NAT_OVERRIDES: Partial<Config> = { registrationsPerMinutePerIp: 1_000_000, socketsPerIp: 1_000_000 };
const natConfig = loadConfig({}, { port: 0, ...NAT_OVERRIDES });
const nat = await forkSignaling({ mode: 'signaling', overrides: NAT_OVERRIDES });
try {
  const r = await ramp(nat, await freshTokens());
  const before = (await nat.stats()).dropped?.rateLimited ?? 0;
  const TICK_MS = 50;
  const perTick = Math.ceil((r.held.length * TICK_MS) / HEARTBEAT_INTERVAL_MS);
  let sent = 0;
  let cursor = 0;
  const tStart = performance.now();
  while (performance.now() - tStart < HEARTBEAT_PROBE_MS) {
    for (let k = 0; k < perTick; k++) {
      r.held[cursor++ % r.held.length]!.send('{"type":"HEARTBEAT"}');
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const dropped = ((await nat.stats()).dropped?.rateLimited ?? 0) - before;
  console.log(
    `    ${r.held.length.toLocaleString('en-US')} peers behind one IP (registrations allowed, message limits default: messagesPerSecondPerIp=${natConfig.messagesPerSecondPerIp}), each sending HEARTBEAT every ${HEARTBEAT_INTERVAL_MS / 1000} s for ${HEARTBEAT_PROBE_MS / 1000} s: ${dropped.toLocaleString('en-US')} of ${sent.toLocaleString('en-US')} heartbeats dropped as rate-limited (${((dropped / Math.max(1, sent)) * 100).toFixed(0)}%)`,
  );
  await closeAll(r.held, nat);
} finally {
  await nat.close();
}

console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
