/**
 * The signaling server under a hostile caller (issue 10, item 7), over real sockets on
 * loopback: a per-IP cap on concurrent sockets; presence answered only to a peer that
 * is registered right now and proves it with a fresh presence token; no X-Powered-By
 * on any answer (express runs under PeerJS).
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { fetchPresence, makePresenceToken, PresenceError } from '@conclave/shared/p2p';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { build, type SignalingServer } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';

interface Running {
  signaling: SignalingServer;
  wsUrl: string;
  httpUrl: string;
  origin: string;
}

const running: Running[] = [];
const sockets: WebSocket[] = [];

async function start(overrides: Partial<Config> = {}): Promise<Running> {
  const config = loadConfig({}, { port: 0, ...overrides });
  const signaling = build(config, { log: () => {} });
  await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
  const { port } = signaling.server.address() as AddressInfo;
  const run = { signaling, wsUrl: `ws://127.0.0.1:${port}${signaling.wsPath}`, httpUrl: `http://127.0.0.1:${port}${config.path}`, origin: `http://127.0.0.1:${port}` };
  running.push(run);
  return run;
}

/** Registers `identity` from `localAddress`: 'open', or the refusal's status and reason. */
async function register(run: Running, identity: DeviceIdentity, localAddress = '127.0.0.1'): Promise<{ status: number; body: string; ws?: WebSocket }> {
  const token = await makeRegistrationToken(identity);
  const url = `${run.wsUrl}?key=peerjs&id=${identity.fingerprint}&token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress });
    sockets.push(ws);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'OPEN') resolve({ status: 101, body: 'open', ws });
    });
    ws.on('error', (error) => reject(error));
  });
}

function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
}

async function presence(run: Running, ids: string[], authorization?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${run.httpUrl}/presence?ids=${ids.join(',')}`, authorization ? { headers: { authorization } } : {});
  return { status: response.status, body: await response.json().catch(() => null) };
}

let alice: DeviceIdentity;
let bob: DeviceIdentity;
let carol: DeviceIdentity;
let dave: DeviceIdentity;
let erin: DeviceIdentity;

beforeAll(async () => {
  [alice, bob, carol, dave, erin] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
});

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((ws) => closed(ws)));
});

afterAll(async () => {
  await Promise.all(running.map((run) => run.signaling.close()));
});

describe('signaling server under a hostile caller', () => {
  // Regression: express's X-Powered-By was disabled on our app, but PeerJS's own
  // express app (mounted under the path) still sent it.
  it('sends no X-Powered-By header on any answer', async () => {
    const run = await start();
    for (const path of ['/peerjs', '/peerjs/', '/peerjs/peerjs/id', '/peerjs/config', '/peerjs/presence?ids=', '/peerjs/peerjs/peers', '/nothing', '/']) {
      const response = await fetch(`${run.origin}${path}`);
      expect(response.headers.get('x-powered-by'), `${path} → ${response.status}`).toBeNull();
      await response.arrayBuffer();
    }
  });

  // Regression: one address could hold any number of sockets (up to the global limit).
  it('caps the concurrent sockets of one IP, and frees a place when one closes', async () => {
    const run = await start({ socketsPerIp: 3 });
    const held = [];
    for (const identity of [alice, bob, carol]) {
      const result = await register(run, identity);
      expect(result.status, result.body).toBe(101);
      held.push(result.ws!);
    }
    const refused = await register(run, dave);
    expect(refused).toMatchObject({ status: 429, body: 'too many connections from this address' });
    // Another address is not affected.
    expect((await register(run, dave, '127.0.0.2')).status).toBe(101);
    await closed(held[0]!);
    await new Promise((r) => setTimeout(r, 50));
    expect((await register(run, erin)).status).toBe(101);
    expect(run.signaling.stats.refused).toBe(1);
  });

  // Regression: anyone could ask which fingerprints were online.
  it('answers presence only to a registered peer with a fresh presence token', async () => {
    const run = await start();
    const ids = [alice.fingerprint, bob.fingerprint, carol.fingerprint];
    // No token, a malformed one.
    expect(await presence(run, ids)).toMatchObject({ status: 401, body: { error: expect.stringMatching(/presence token/) } });
    expect((await presence(run, ids, 'Bearer not-a-token')).status).toBe(401);
    // A valid token of a peer that is not registered.
    expect(await presence(run, ids, `Bearer ${await makePresenceToken(alice)}`)).toMatchObject({ status: 403, body: { error: expect.stringMatching(/register/) } });
    const a = await register(run, alice);
    const b = await register(run, bob);
    expect([a.status, b.status]).toEqual([101, 101]);
    // A registration token is not a presence token (another statement is signed).
    expect(await presence(run, ids, `Bearer ${await makeRegistrationToken(alice)}`)).toMatchObject({ status: 401, body: { error: expect.stringMatching(/bad-signature/) } });
    const token = await makePresenceToken(alice);
    expect(await presence(run, ids, `Bearer ${token}`)).toEqual({ status: 200, body: { online: [alice.fingerprint, bob.fingerprint] } });
    // Single use.
    expect(await presence(run, ids, `Bearer ${token}`)).toMatchObject({ status: 401, body: { error: expect.stringMatching(/replayed/) } });
    // Carol's token is valid, but Carol is not registered.
    expect((await presence(run, ids, `Bearer ${await makePresenceToken(carol)}`)).status).toBe(403);
    // The client function carries a fresh token on every request.
    expect((await fetchPresence(run.httpUrl, ids as never, () => makePresenceToken(bob))).sort()).toEqual([alice.fingerprint, bob.fingerprint].sort());
    const refused = await fetchPresence(run.httpUrl, ids as never, () => makePresenceToken(carol)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PresenceError);
    expect((refused as Error).message).toMatch(/registered/);
    await closed(a.ws!);
    await new Promise((r) => setTimeout(r, 50));
    expect((await presence(run, ids, `Bearer ${await makePresenceToken(alice)}`)).status).toBe(403);
  });

  it('limits presence requests per IP before checking any signature', async () => {
    const run = await start({ presencePerMinutePerIp: 3 });
    const a = await register(run, alice);
    expect(a.status).toBe(101);
    for (let i = 0; i < 3; i++) expect((await presence(run, [bob.fingerprint], `Bearer ${await makePresenceToken(alice)}`)).status).toBe(200);
    expect(await presence(run, [bob.fingerprint], `Bearer ${await makePresenceToken(alice)}`)).toMatchObject({ status: 429, body: { error: expect.stringMatching(/too many/) } });
  });
});
