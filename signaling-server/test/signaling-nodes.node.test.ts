/**
 * Two signaling nodes as real processes on loopback (`server.ts` spawned twice with the
 * same REDIS_URL and a prefix of this run's own), sharing the Redis at 127.0.0.1:6379:
 * frames relayed across nodes with the same checks, presence and registration answered
 * from either node, tokens single-use across nodes, an id held once, a node killed,
 * Redis going away or going silent, and a live key handover between peers on different nodes.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { makePresenceToken, makeRegistrationToken } from '@conclave/shared/p2p';
import { createGroup, createInvite, acceptInvite, inviteKeysFromCode, replayLog, HolderHandshake, JoinerHandshake } from '@conclave/shared/crypto';
import { channelFromDataConnection, runHandshake } from '@conclave/shared/p2p';
import { TestClient } from '../../shared/test/support/client.ts';
import { MemoryServer } from '../../shared/test/support/memory-server.ts';
import { openPeer, type DataConnection, type PeerInstance } from '../../scripts/node-peerjs.ts';
import { connectPeer, type RawPeer } from './support/ws-client.ts';
import { RedisProxy, startNode, testPrefix, type Node } from './support/nodes.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL_MS = 2000;
/** Starting node processes (tsx compiles on start) can be slow on a loaded machine. */
const SPAWN_TIMEOUT_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function open(node: Node, identity: DeviceIdentity): Promise<RawPeer> {
  const result = await connectPeer(node.wsUrl, identity.fingerprint, await makeRegistrationToken(identity));
  if (result.kind !== 'open') throw new Error(`refused: ${result.status} ${result.body}`);
  return result.client;
}

async function presence(node: Node, asker: DeviceIdentity, ids: DeviceIdentity[]): Promise<{ status: number; online?: string[] }> {
  const response = await fetch(`${node.httpUrl}/presence?ids=${ids.map((i) => i.fingerprint).join(',')}`, { headers: { authorization: `Bearer ${await makePresenceToken(asker)}` } });
  const body = (await response.json()) as { online?: string[] };
  return { status: response.status, online: body.online?.sort() };
}

async function metricsText(node: Node): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text();
}

function metric(text: string, line: RegExp): number {
  const match = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

/** Polls until `check` holds or `withinMs` passes; returns the ms it took. */
async function eventually(check: () => Promise<boolean>, withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > withinMs) throw new Error(`not within ${withinMs} ms`);
    await sleep(100);
  }
}

describe('two signaling nodes sharing Redis', () => {
  const { prefix, cleanup } = testPrefix();
  const env = { REDIS_URL, CONCLAVE_SIGNAL_REDIS_PREFIX: prefix, CONCLAVE_SIGNAL_PRESENCE_TTL_MS: String(TTL_MS) };
  let one: Node;
  let two: Node;
  let alice: DeviceIdentity, bob: DeviceIdentity, carol: DeviceIdentity, dave: DeviceIdentity;

  beforeAll(async () => {
    [one, two] = await Promise.all([startNode(env), startNode(env)]);
    [alice, bob, carol, dave] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await cleanup(REDIS_URL);
  }, SPAWN_TIMEOUT_MS);

  it('relays OFFER, ANSWER, CANDIDATE and LEAVE between peers on different nodes, src forced on the sender\'s node', async () => {
    const [a, b] = await Promise.all([open(one, alice), open(two, bob)]);
    a.send({ type: 'OFFER', src: carol.fingerprint, dst: bob.fingerprint, payload: { sdp: 'v=0', type: 'offer', connectionId: 'dc_1' }, extra: 'x' });
    expect(await b.next((m) => m.type === 'OFFER')).toEqual({ type: 'OFFER', src: alice.fingerprint, dst: bob.fingerprint, payload: { sdp: 'v=0', type: 'offer', connectionId: 'dc_1' } });
    b.send({ type: 'ANSWER', src: carol.fingerprint, dst: alice.fingerprint, payload: { sdp: 'answer' } });
    expect(await a.next((m) => m.type === 'ANSWER')).toEqual({ type: 'ANSWER', src: bob.fingerprint, dst: alice.fingerprint, payload: { sdp: 'answer' } });
    for (let i = 0; i < 5; i++) a.send({ type: 'CANDIDATE', dst: bob.fingerprint, payload: { i } });
    await b.next((m) => m.type === 'CANDIDATE' && (m.payload as { i: number }).i === 4);
    // In order, as sent.
    expect(b.received.filter((m) => m.type === 'CANDIDATE').map((m) => (m.payload as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    a.send({ type: 'LEAVE', dst: bob.fingerprint });
    expect(await b.next((m) => m.type === 'LEAVE')).toMatchObject({ src: alice.fingerprint, dst: bob.fingerprint });

    // The checks happen on the node the frame arrives at: nothing bad crosses.
    const before = await metricsText(one);
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'x'.repeat(17 * 1024) } });
    a.send({ type: 'EXPIRE', dst: bob.fingerprint });
    a.send('{not json');
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'after' } });
    expect(await b.next((m) => m.type === 'OFFER' && (m.payload as { sdp: string }).sdp === 'after')).toMatchObject({ src: alice.fingerprint });
    expect(b.received.map((m) => m.type)).toEqual(['OPEN', 'OFFER', 'CANDIDATE', 'CANDIDATE', 'CANDIDATE', 'CANDIDATE', 'CANDIDATE', 'LEAVE', 'OFFER']);
    const after = await metricsText(one);
    for (const reason of ['oversize', 'unknown-type', 'malformed']) {
      expect(metric(after, new RegExp(`conclave_signal_frames_dropped_total\\{reason="${reason}"\\}`)) - metric(before, new RegExp(`conclave_signal_frames_dropped_total\\{reason="${reason}"\\}`))).toBe(1);
    }
    expect(metric(after, /conclave_signal_cross_node_relays_total\{direction="sent"\}/)).toBeGreaterThanOrEqual(8);
    expect(metric(await metricsText(two), /conclave_signal_cross_node_relays_total\{direction="received"\}/)).toBeGreaterThanOrEqual(8);
    // No peer id in any metric.
    for (const text of [after, await metricsText(two)]) for (const id of [alice, bob, carol]) expect(text).not.toContain(id.fingerprint);
    await Promise.all([a.close(), b.close()]);
  });

  it('answers presence from either node, to a peer registered on either node', async () => {
    const [a, c] = await Promise.all([open(one, alice), open(one, carol)]);
    const b = await open(two, bob);
    // Bob, registered on node two, asks node two about peers on node one; and asks node one.
    expect(await presence(two, bob, [alice, carol, dave])).toEqual({ status: 200, online: [alice.fingerprint, carol.fingerprint].sort() });
    expect(await presence(one, bob, [alice, bob, dave])).toEqual({ status: 200, online: [alice.fingerprint, bob.fingerprint].sort() });
    // Dave is registered nowhere: refused on both.
    expect((await presence(one, dave, [alice])).status).toBe(403);
    expect((await presence(two, dave, [alice])).status).toBe(403);
    // A peer leaving is seen from the other node at once (its node gives up the claim).
    await a.close();
    await eventually(async () => (await presence(two, bob, [alice, carol])).online?.length === 1, 2000);
    expect(await presence(two, bob, [alice, carol])).toEqual({ status: 200, online: [carol.fingerprint] });
    await Promise.all([b.close(), c.close()]);
  });

  it('a token used on one node is refused on the other, and so is a presence token', async () => {
    const token = await makeRegistrationToken(dave);
    const first = await connectPeer(one.wsUrl, dave.fingerprint, token);
    expect(first.kind).toBe('open');
    if (first.kind === 'open') await first.client.close();
    await sleep(50);
    expect(await connectPeer(two.wsUrl, dave.fingerprint, token)).toEqual({ kind: 'refused', status: 401, body: 'replayed' });

    const b = await open(two, bob);
    const presenceToken = await makePresenceToken(bob);
    const ask = (node: Node) => fetch(`${node.httpUrl}/presence?ids=${alice.fingerprint}`, { headers: { authorization: `Bearer ${presenceToken}` } });
    expect((await ask(two)).status).toBe(200);
    const again = await ask(one);
    expect(again.status).toBe(401);
    expect(await again.json()).toEqual({ error: 'presence token refused: replayed' });
    await b.close();
  });

  it('an id held on one node is taken on the other, as a second socket on one node is', async () => {
    const a = await open(one, alice);
    // The same device again (a fresh token), on the other node: ID-TAKEN, then closed.
    await expect(connectPeer(two.wsUrl, alice.fingerprint, await makeRegistrationToken(alice))).rejects.toThrow(/ID-TAKEN/);
    // ... exactly what one node answers.
    await expect(connectPeer(one.wsUrl, alice.fingerprint, await makeRegistrationToken(alice))).rejects.toThrow(/ID-TAKEN/);
    // The first registration is untouched, and the id is free again once it leaves.
    const b = await open(two, bob);
    b.send({ type: 'OFFER', dst: alice.fingerprint, payload: { sdp: 'still-here' } });
    expect(await a.next((m) => m.type === 'OFFER')).toMatchObject({ src: bob.fingerprint });
    await a.close();
    await sleep(100);
    const again = await open(two, alice);
    await Promise.all([again.close(), b.close()]);
  });

  it('a device registering again on the same node while its old socket is still open stays visible to the other node once the old socket closes', async () => {
    const old = await open(one, alice);
    // LEAVE without dst: peer forgets the client while its socket stays open, as after
    // peer's broken-connection check, whose close() waits for a close frame that may be slow.
    old.send({ type: 'LEAVE' });
    await sleep(100);
    const fresh = await open(one, alice);
    const b = await open(two, bob);
    await old.close();
    await sleep(300);
    expect(await presence(two, bob, [alice])).toEqual({ status: 200, online: [alice.fingerprint] });
    b.send({ type: 'OFFER', dst: alice.fingerprint, payload: { sdp: 'to-the-new-socket' } });
    expect(await fresh.next((m) => m.type === 'OFFER')).toMatchObject({ src: bob.fingerprint, payload: { sdp: 'to-the-new-socket' } });
    await Promise.all([fresh.close(), b.close()]);
  });

  it('a HEARTBEAT is relayed to nobody, even with a dst on another node; a node delivers only OFFER, ANSWER, CANDIDATE and LEAVE published to it', async () => {
    const [a, b] = await Promise.all([open(one, alice), open(two, bob)]);
    a.send({ type: 'HEARTBEAT', dst: bob.fingerprint, payload: { spam: 1 } });
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'after-heartbeat' } });
    await b.next((m) => m.type === 'OFFER');
    expect(b.received.map((m) => m.type)).toEqual(['OPEN', 'OFFER']);
    // Straight into node two's channel: only the four relayed types reach its peer.
    const nodeTwo = /signaling node (\S+): sharing/.exec(two.output())![1];
    const redis = new Redis(REDIS_URL);
    try {
      for (const type of ['HEARTBEAT', 'OPEN', 'EXPIRE', 'OFFER']) {
        await redis.publish(`${prefix}node:${nodeTwo}`, JSON.stringify({ type, src: alice.fingerprint, dst: bob.fingerprint, payload: { sdp: type } }));
      }
    } finally {
      redis.disconnect();
    }
    await b.next((m) => m.type === 'OFFER' && (m.payload as { sdp: string }).sdp === 'OFFER');
    expect(b.received.map((m) => m.type)).toEqual(['OPEN', 'OFFER', 'OFFER']);
    await Promise.all([a.close(), b.close()]);
  });

  it('a node killed with kill -9: its peers read as offline on the other node within the expiry', async () => {
    const three = await startNode(env);
    const c = await open(three, carol);
    const b = await open(two, bob);
    expect(await presence(two, bob, [carol])).toEqual({ status: 200, online: [carol.fingerprint] });
    await three.kill9();
    c.ws.terminate();
    const took = await eventually(async () => (await presence(two, bob, [carol])).online?.length === 0, TTL_MS + 1500);
    expect(took).toBeLessThanOrEqual(TTL_MS + 1500);
    // And carol can register again, on the surviving node.
    const again = await open(two, carol);
    await Promise.all([again.close(), b.close()]);
  }, SPAWN_TIMEOUT_MS);
});

describe('a live key handover between peers on different nodes', () => {
  const { prefix, cleanup } = testPrefix();
  const env = { REDIS_URL, CONCLAVE_SIGNAL_REDIS_PREFIX: prefix };
  let one: Node;
  let two: Node;
  const peers: PeerInstance[] = [];

  beforeAll(async () => {
    [one, two] = await Promise.all([startNode(env), startNode(env)]);
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    for (const p of peers) p.destroy();
    await Promise.all([one?.stop(), two?.stop()]);
    await cleanup(REDIS_URL);
  }, SPAWN_TIMEOUT_MS);

  it('hands the seed from a holder on node one to a verified joiner on node two over WebRTC', async () => {
    const server = new MemoryServer();
    const [holder, joiner] = await Promise.all([TestClient.create('Holder'), TestClient.create('Joiner')]);
    const group = await createGroup(holder.identity);
    const groupId = group.state.groupId;
    server.append(groupId, group.entries);
    holder.adopt(group.state);
    await holder.keepSeed(0, group.seed);
    const invite = await createInvite(holder.group, holder.identity, { role: 'member', expiresAt: Date.now() + 3600_000 });
    server.append(groupId, [invite.entry]);
    const keys = await inviteKeysFromCode(invite.code);
    server.append(groupId, [await acceptInvite(await replayLog(server.log(keys.groupId)), keys, joiner.identity)]);
    await joiner.sync(server, groupId);
    await holder.sync(server, groupId);
    holder.trust.set(joiner.fingerprint, 'verified');
    joiner.trust.set(holder.fingerprint, 'verified');

    const holderPeer = await openPeer(one.port, holder.identity, peers);
    const joinerPeer = await openPeer(two.port, joiner.identity, peers);
    const fast = { timeoutMs: 10_000, closeGraceMs: 300 };
    const served = new Promise((resolve) => {
      holderPeer.once('connection', (conn: DataConnection) => {
        void runHandshake(channelFromDataConnection(conn), new HolderHandshake(holder.identity, holder.group, { seedFor: holder.seedFor, trustOf: holder.trustOf }), fast).then(resolve);
      });
    });
    const conn = joinerPeer.connect(holder.fingerprint, { reliable: true });
    const received = runHandshake(channelFromDataConnection(conn), new JoinerHandshake(joiner.identity, joiner.group, { expectedPeer: holder.fingerprint }), fast);
    const [got, sent] = await Promise.all([received, served]);
    expect(sent).toMatchObject({ kind: 'sent', peer: joiner.fingerprint, generation: 0 });
    expect(got).toMatchObject({ kind: 'received', peer: holder.fingerprint, generation: 0 });
    if (got.kind !== 'received') throw new Error('no seed');
    expect(got.seed).toEqual(holder.seedFor(0));
    // The session set-up went through Redis, both ways.
    expect(metric(await metricsText(two), /conclave_signal_cross_node_relays_total\{direction="sent"\}/)).toBeGreaterThan(0);
    expect(metric(await metricsText(one), /conclave_signal_cross_node_relays_total\{direction="sent"\}/)).toBeGreaterThan(0);
  });
});

describe('a node whose Redis goes away', () => {
  const { prefix, cleanup } = testPrefix();
  const proxy = new RedisProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL).port || 6379) });
  let node: Node;

  beforeAll(async () => {
    await proxy.up();
    node = await startNode({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, CONCLAVE_SIGNAL_REDIS_PREFIX: prefix });
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    await node?.stop();
    await proxy.down();
    await cleanup(REDIS_URL);
  }, SPAWN_TIMEOUT_MS);

  it('keeps running, says so once, refuses registrations and presence 503 busy, keeps local relays, and recovers', async () => {
    const [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const [a, b] = await Promise.all([open(node, alice), open(node, bob)]);
    await proxy.down();
    await node.waitFor(/Redis unreachable/);
    expect(await connectPeer(node.wsUrl, carol.fingerprint, await makeRegistrationToken(carol))).toEqual({ kind: 'refused', status: 503, body: 'busy' });
    expect(await presence(node, alice, [bob])).toEqual({ status: 503 });
    // Peers already here still reach each other.
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'local' } });
    expect(await b.next((m) => m.type === 'OFFER')).toMatchObject({ src: alice.fingerprint, payload: { sdp: 'local' } });
    expect(metric(await metricsText(node), /conclave_signal_redis_up/)).toBe(0);
    expect(metric(await metricsText(node), /conclave_signal_redis_errors_total/)).toBeGreaterThan(0);
    expect(node.output().match(/Redis unreachable/g)?.length).toBe(1);
    expect(node.process.exitCode).toBeNull();

    await proxy.up();
    await node.waitFor(/Redis reachable[\s\S]*Redis unreachable[\s\S]*Redis reachable/, 10_000);
    const c = await open(node, carol);
    // Alice's and Bob's claims were written back: presence sees them again.
    expect(await presence(node, carol, [alice, bob])).toEqual({ status: 200, online: [alice.fingerprint, bob.fingerprint].sort() });
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('starts without Redis, saying so, and registers once Redis is there', async () => {
    const missing = new RedisProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL).port || 6379) });
    await missing.up();
    const port = missing.port;
    await missing.down();
    const late = await startNode({ REDIS_URL: `redis://127.0.0.1:${port}`, CONCLAVE_SIGNAL_REDIS_PREFIX: prefix }, { waitForRedis: false });
    try {
      await late.waitFor(/Redis unreachable/);
      const alice = await generateIdentity();
      expect(await connectPeer(late.wsUrl, alice.fingerprint, await makeRegistrationToken(alice))).toEqual({ kind: 'refused', status: 503, body: 'busy' });
      const back = new RedisProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL).port || 6379) });
      back.port = port;
      await back.up();
      try {
        await late.waitFor(/Redis reachable/, 10_000);
        await (await open(late, alice)).close();
      } finally {
        await back.down();
      }
    } finally {
      await late.stop();
    }
  }, SPAWN_TIMEOUT_MS);
});

describe('a node whose Redis keeps the connections open and stops answering', () => {
  const { prefix, cleanup } = testPrefix();
  const proxy = new RedisProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL).port || 6379) });
  let node: Node;

  beforeAll(async () => {
    await proxy.up();
    node = await startNode({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, CONCLAVE_SIGNAL_REDIS_PREFIX: prefix });
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    await node?.stop();
    await proxy.down();
    await cleanup(REDIS_URL);
  }, SPAWN_TIMEOUT_MS);

  it('answers registrations and presence 503 busy, keeps relaying between its own peers, counts as relayed only what it delivered, and stops', async () => {
    const [alice, bob, carol, dave] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
    const [a, b] = await Promise.all([open(node, alice), open(node, bob)]);
    const relayed = (text: string) => metric(text, /conclave_signal_frames_relayed_total/);
    const droppedRedis = (text: string) => metric(text, /conclave_signal_frames_dropped_total\{reason="redis"\}/);
    const before = await metricsText(node);
    proxy.silence();
    // Dave is on no node here: this frame waits on Redis, then is dropped ...
    a.send({ type: 'OFFER', dst: dave.fingerprint, payload: { sdp: 'nowhere' } });
    // ... and holds up nothing between two peers on this node.
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'local' } });
    expect(await b.next((m) => m.type === 'OFFER')).toMatchObject({ src: alice.fingerprint, payload: { sdp: 'local' } });
    expect(await connectPeer(node.wsUrl, carol.fingerprint, await makeRegistrationToken(carol))).toEqual({ kind: 'refused', status: 503, body: 'busy' });
    expect(await presence(node, alice, [bob])).toEqual({ status: 503 });
    await eventually(async () => droppedRedis(await metricsText(node)) - droppedRedis(before) === 1, 10_000);
    // The frame for Dave was dropped, not relayed: only Bob's counts.
    expect(relayed(await metricsText(node)) - relayed(before)).toBe(1);
    // A connection holds at most 32 frames waiting on Redis: of 40 sent at once, 8 are
    // dropped on arrival, so before the frame sent after them reaches Bob.
    const beforeBurst = droppedRedis(await metricsText(node));
    for (let i = 0; i < 40; i++) a.send({ type: 'CANDIDATE', dst: dave.fingerprint, payload: { i } });
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'after-burst' } });
    await b.next((m) => m.type === 'OFFER' && (m.payload as { sdp: string }).sdp === 'after-burst');
    expect(droppedRedis(await metricsText(node)) - beforeBurst).toBeGreaterThanOrEqual(8);
    // Stopping gives up the claims without waiting for an answer that never comes (stop() sends SIGKILL after 5 s).
    await node.stop();
    expect(node.process.signalCode).toBeNull();
    expect(node.process.exitCode).toBe(0);
  }, 30_000);
});
