/**
 * The signaling server over real sockets: a real http server on 127.0.0.1:0 and raw
 * `ws` clients speaking the PeerJS wire protocol (…/peerjs?key=&id=&token=, then
 * OPEN / OFFER / ANSWER / CANDIDATE / LEAVE / HEARTBEAT frames).
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { build, type SignalingServer } from '../src/app.ts';
import { createRegistrationVerifier } from '../src/auth.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { makePresenceToken } from '@conclave/shared/p2p';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { connectPeer, type RawPeer } from './support/ws-client.ts';

interface Running {
  signaling: SignalingServer;
  wsUrl: string;
  httpUrl: string;
}

async function start(overrides: Partial<Config> = {}): Promise<Running> {
  const config = loadConfig({}, { port: 0, ...overrides });
  const signaling = build(config, { log: () => {} });
  await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
  const { port } = signaling.server.address() as AddressInfo;
  return { signaling, wsUrl: `ws://127.0.0.1:${port}${signaling.wsPath}`, httpUrl: `http://127.0.0.1:${port}${config.path}` };
}

async function open(run: Running, identity: DeviceIdentity): Promise<RawPeer> {
  const result = await connectPeer(run.wsUrl, identity.fingerprint, await makeRegistrationToken(identity));
  if (result.kind !== 'open') throw new Error(`refused: ${result.status} ${result.body}`);
  return result.client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('config', () => {
  it('has safe defaults and parses ICE servers from JSON', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 9000, path: '/peerjs', tokenMaxAgeMs: 60_000, maxMessageBytes: 16 * 1024, iceServers: [] });
    expect(loadConfig({ CONCLAVE_SIGNAL_ICE_SERVERS: '[{"urls":"stun:stun.example.org:3478"}]' }).iceServers).toEqual([{ urls: 'stun:stun.example.org:3478' }]);
    expect(() => loadConfig({ CONCLAVE_SIGNAL_ICE_SERVERS: 'not json' })).toThrow(/iceServers/);
    expect(() => loadConfig({ CONCLAVE_SIGNAL_PORT: 'x' })).toThrow(/port/);
  });
});

describe('registration tokens (unit)', () => {
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
  });

  it('accepts a fresh token once and names every refusal', async () => {
    const v = createRegistrationVerifier({ maxAgeMs: 60_000 });
    const now = 1_800_000_000_000;
    const token = await makeRegistrationToken(alice, now);
    expect(await v.verifyRegistration(alice.fingerprint, token, now)).toEqual({ ok: true, id: alice.fingerprint });
    expect(await v.verifyRegistration(alice.fingerprint, token, now + 1000)).toEqual({ ok: false, reason: 'replayed' });
    expect(await v.verifyRegistration(alice.fingerprint, 'not-a-token', now)).toEqual({ ok: false, reason: 'malformed-token' });
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(bob, now), now)).toEqual({ ok: false, reason: 'id-mismatch' });
    // Bob signs a statement claiming Alice's id but carries his own bundle: still a mismatch.
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(bob, now, { id: alice.fingerprint }), now)).toEqual({ ok: false, reason: 'id-mismatch' });
    // Bob carries Alice's bundle but signs with his own key: the signature fails.
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(bob, now, { id: alice.fingerprint, bundle: alice.bundle }), now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now, { bundle: { ...alice.bundle, boxKey: bob.bundle.boxKey } }), now)).toEqual({ ok: false, reason: 'invalid-bundle' });
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now - 60_001), now)).toEqual({ ok: false, reason: 'stale' });
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now + 60_001), now)).toEqual({ ok: false, reason: 'from-future' });
    expect((await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now - 59_000), now)).ok).toBe(true);
    expect((await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now + 59_000), now)).ok).toBe(true);
  });

  it('remembers a nonce for the whole window in which its token is valid', async () => {
    const v = createRegistrationVerifier({ maxAgeMs: 60_000 });
    const now = 1_800_000_000_000;
    // A token dated 59 s ahead is valid until now + 119 s; a replay at +118 s must still fail.
    const token = await makeRegistrationToken(alice, now + 59_000);
    expect((await v.verifyRegistration(alice.fingerprint, token, now)).ok).toBe(true);
    expect(await v.verifyRegistration(alice.fingerprint, token, now + 118_000)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('says busy, not replayed, when it cannot remember another nonce, and recovers once the window passes', async () => {
    const v = createRegistrationVerifier({ maxAgeMs: 60_000, replayCacheSize: 2 });
    const now = 1_800_000_000_000;
    expect((await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now), now)).ok).toBe(true);
    expect((await v.verifyRegistration(bob.fingerprint, await makeRegistrationToken(bob, now), now)).ok).toBe(true);
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, now), now)).toEqual({ ok: false, reason: 'busy' });
    const later = now + 120_001;
    expect((await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, later), later)).ok).toBe(true);
  });
});

describe('signaling server over real sockets', () => {
  let run: Running;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let carol: DeviceIdentity;

  beforeAll(async () => {
    run = await start();
    [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  });
  afterAll(async () => {
    await run.signaling.close();
  });

  it('a valid registration gets OPEN', async () => {
    const a = await open(run, alice);
    expect(a.received[0]).toEqual({ type: 'OPEN' });
    await a.close();
  });

  it('refuses impersonation, bad signatures, stale, future and replayed tokens with 401 before OPEN', async () => {
    const now = Date.now();
    const cases: Array<[string, string, string]> = [
      ['impersonation', alice.fingerprint, await makeRegistrationToken(bob)],
      ['impersonation (claimed id)', alice.fingerprint, await makeRegistrationToken(bob, now, { id: alice.fingerprint })],
      ['wrong signature', alice.fingerprint, await makeRegistrationToken(bob, now, { id: alice.fingerprint, bundle: alice.bundle })],
      ['stale', alice.fingerprint, await makeRegistrationToken(alice, now - 120_000)],
      ['future', alice.fingerprint, await makeRegistrationToken(alice, now + 120_000)],
      ['garbage', alice.fingerprint, 'x'],
    ];
    const expected = ['id-mismatch', 'id-mismatch', 'bad-signature', 'stale', 'from-future', 'malformed-token'];
    for (const [i, [, id, token]] of cases.entries()) {
      const result = await connectPeer(run.wsUrl, id, token);
      expect(result).toEqual({ kind: 'refused', status: 401, body: expected[i] });
    }
    const token = await makeRegistrationToken(carol);
    const first = await connectPeer(run.wsUrl, carol.fingerprint, token);
    expect(first.kind).toBe('open');
    if (first.kind === 'open') await first.client.close();
    await sleep(50);
    expect(await connectPeer(run.wsUrl, carol.fingerprint, token)).toEqual({ kind: 'refused', status: 401, body: 'replayed' });
    expect(await connectPeer(run.wsUrl, 'not-a-fingerprint', token)).toMatchObject({ kind: 'refused', status: 400 });
    expect(await connectPeer(run.wsUrl, carol.fingerprint, await makeRegistrationToken(carol), 'other-key')).toMatchObject({ kind: 'refused', status: 400 });
  });

  it('an impersonator never receives what was queued for the real member', async () => {
    const a = await open(run, alice);
    // Bob is offline: peer queues the offer for his id.
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'queued-for-bob' } });
    await sleep(50);
    const impostor = await connectPeer(run.wsUrl, bob.fingerprint, await makeRegistrationToken(carol, Date.now(), { id: bob.fingerprint }));
    expect(impostor).toMatchObject({ kind: 'refused', status: 401 });
    const b = await open(run, bob);
    const offer = await b.next((m) => m.type === 'OFFER');
    expect(offer).toMatchObject({ src: alice.fingerprint, dst: bob.fingerprint, payload: { sdp: 'queued-for-bob' } });
    await Promise.all([a.close(), b.close()]);
  });

  it('relays with src = the authenticated sender even when src is forged', async () => {
    const [a, b] = await Promise.all([open(run, alice), open(run, bob)]);
    a.send({ type: 'OFFER', src: carol.fingerprint, dst: bob.fingerprint, payload: { sdp: 'v=0', type: 'offer', connectionId: 'dc_1' }, extra: 'x' });
    const offer = await b.next((m) => m.type === 'OFFER');
    expect(offer).toEqual({ type: 'OFFER', src: alice.fingerprint, dst: bob.fingerprint, payload: { sdp: 'v=0', type: 'offer', connectionId: 'dc_1' } });
    b.send({ type: 'ANSWER', src: carol.fingerprint, dst: alice.fingerprint, payload: { sdp: 'answer' } });
    expect(await a.next((m) => m.type === 'ANSWER')).toMatchObject({ src: bob.fingerprint, dst: alice.fingerprint });
    b.send({ type: 'CANDIDATE', dst: alice.fingerprint, payload: { candidate: 'c' } });
    expect(await a.next((m) => m.type === 'CANDIDATE')).toMatchObject({ src: bob.fingerprint });
    await Promise.all([a.close(), b.close()]);
  });

  it('drops oversize, malformed and unknown frames and keeps relaying', async () => {
    const [a, b] = await Promise.all([open(run, alice), open(run, bob)]);
    const before = { ...run.signaling.stats.dropped };
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'x'.repeat(17 * 1024) } });
    a.send('{not json');
    a.send('[1,2,3]');
    a.send({ type: 'EXPIRE', dst: bob.fingerprint });
    a.send({ type: 'ID-TAKEN', dst: bob.fingerprint });
    a.send({ type: 'OFFER', dst: 'nobody' });
    a.send({ type: 'HEARTBEAT' });
    a.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'after' } });
    const offer = await b.next((m) => m.type === 'OFFER');
    expect(offer).toMatchObject({ src: alice.fingerprint, payload: { sdp: 'after' } });
    // Nothing before it reached Bob (OPEN, then the valid offer).
    expect(b.received.map((m) => m.type)).toEqual(['OPEN', 'OFFER']);
    const after = run.signaling.stats.dropped;
    expect(after.oversize - before.oversize).toBe(1);
    expect(after.malformed - before.malformed).toBe(3);
    expect(after.unknownType - before.unknownType).toBe(2);
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    await Promise.all([a.close(), b.close()]);
  });

  it('presence lists exactly the connected ids', async () => {
    const ids = [alice, bob, carol].map((i) => i.fingerprint).join(',');
    // Presence is answered only to a registered peer, with a fresh presence token each time.
    const asker = await generateIdentity();
    const askerSocket = await open(run, asker);
    const ask = async (query: string) => fetch(`${run.httpUrl}/presence?ids=${query}`, { headers: { authorization: `Bearer ${await makePresenceToken(asker)}` } });
    const presence = async () => ((await (await ask(ids)).json()) as { online: string[] }).online.sort();
    await sleep(50);
    expect(await presence()).toEqual([]);
    const [a, c] = await Promise.all([open(run, alice), open(run, carol)]);
    expect(await presence()).toEqual([alice.fingerprint, carol.fingerprint].sort());
    await a.close();
    await sleep(50);
    expect(await presence()).toEqual([carol.fingerprint]);
    await c.close();
    await sleep(50);
    expect(await presence()).toEqual([]);
    const tooMany = Array.from({ length: 101 }, () => alice.fingerprint).join(',');
    expect((await ask(tooMany)).status).toBe(400);
    expect((await ask('bad')).status).toBe(400);
    await askerSocket.close();
  });

  it('keeps discovery off and hands out the ICE configuration', async () => {
    expect((await fetch(`${run.httpUrl}/peerjs/peers`)).status).not.toBe(200);
    expect(await (await fetch(`${run.httpUrl}/config`)).json()).toEqual({ path: '/peerjs', key: 'peerjs', iceServers: [] });
  });
});

describe('rate limiting', () => {
  it('drops messages beyond the per-connection rate', async () => {
    const run = await start({ messagesPerSecond: 5 });
    try {
      const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
      const [a, b] = await Promise.all([open(run, alice), open(run, bob)]);
      for (let i = 0; i < 40; i++) a.send({ type: 'CANDIDATE', dst: bob.fingerprint, payload: { i } });
      await b.next((m) => m.type === 'CANDIDATE');
      await sleep(200);
      const relayed = b.received.filter((m) => m.type === 'CANDIDATE').length;
      expect(relayed).toBeGreaterThanOrEqual(10);
      expect(relayed).toBeLessThanOrEqual(13);
      expect(run.signaling.stats.dropped.rateLimited).toBeGreaterThanOrEqual(27);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await run.signaling.close();
    }
  });

  it('drops messages beyond the per-IP rate, over all connections from that IP', async () => {
    const run = await start({ messagesPerSecond: 1000, messagesPerSecondPerIp: 5 });
    try {
      const [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
      const [a, c, b] = await Promise.all([open(run, alice), open(run, carol), open(run, bob)]);
      for (let i = 0; i < 20; i++) {
        a.send({ type: 'CANDIDATE', dst: bob.fingerprint, payload: { i } });
        c.send({ type: 'CANDIDATE', dst: bob.fingerprint, payload: { i } });
      }
      await b.next((m) => m.type === 'CANDIDATE');
      await sleep(200);
      const relayed = b.received.filter((m) => m.type === 'CANDIDATE').length;
      expect(relayed).toBeGreaterThanOrEqual(10);
      expect(relayed).toBeLessThanOrEqual(13);
      await Promise.all([a.close(), b.close(), c.close()]);
    } finally {
      await run.signaling.close();
    }
  });

  it('does not spend the per-IP budget on heartbeats', async () => {
    const run = await start({ messagesPerSecond: 1000, messagesPerSecondPerIp: 5 });
    try {
      const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
      const [a, b] = await Promise.all([open(run, alice), open(run, bob)]);
      for (let i = 0; i < 50; i++) a.send({ type: 'HEARTBEAT' });
      for (let i = 0; i < 5; i++) a.send({ type: 'CANDIDATE', dst: bob.fingerprint, payload: { i } });
      await b.next((m) => m.type === 'CANDIDATE' && (m.payload as { i: number }).i === 4);
      expect(run.signaling.stats.dropped.rateLimited).toBe(0);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await run.signaling.close();
    }
  });

  it('answers 429 to too many registration attempts from one IP', async () => {
    const run = await start({ registrationsPerMinutePerIp: 3 });
    try {
      const identity = await generateIdentity();
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const result = await connectPeer(run.wsUrl, identity.fingerprint, 'garbage');
        statuses.push(result.kind === 'refused' ? result.status : 101);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await run.signaling.close();
    }
  });
});
