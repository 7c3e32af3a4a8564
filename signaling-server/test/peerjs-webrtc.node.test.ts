/**
 * Two real PeerJS peers in Node (peerjs + @roamhq/wrtc, `iceServers: []`) register
 * through this signaling server with registration tokens, open a data channel and
 * exchange a message. Loopback only: no STUN/TURN.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '@conclave/shared/crypto';
import { build, type SignalingServer } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { makeRegistrationToken } from '@conclave/shared/p2p';

// The RTC and WebSocket globals are installed before peerjs is imported (peerjs looks for them when it loads).
import { Peer, type PeerInstance } from '../../scripts/node-peerjs.ts';

describe('PeerJS over WebRTC through the signaling server', () => {
  let signaling: SignalingServer;
  let port: number;
  const peers: PeerInstance[] = [];

  beforeAll(async () => {
    signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    port = (signaling.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const p of peers) p.destroy();
    await signaling.close();
  });

  async function makePeer(): Promise<{ peer: PeerInstance; id: string }> {
    const identity = await generateIdentity();
    const token = await makeRegistrationToken(identity);
    const peer = new Peer(identity.fingerprint, {
      host: '127.0.0.1',
      port,
      path: '/peerjs',
      key: 'peerjs',
      secure: false,
      token,
      config: { iceServers: [] },
      debug: 0,
    });
    peers.push(peer);
    await new Promise<void>((resolve, reject) => {
      peer.once('open', () => resolve());
      peer.once('error', (e) => reject(e));
    });
    return { peer, id: identity.fingerprint };
  }

  it('opens a data channel and exchanges a message', async () => {
    const [a, b] = await Promise.all([makePeer(), makePeer()]);
    const received = new Promise<unknown>((resolve) => {
      b.peer.on('connection', (conn) => {
        conn.on('data', (data) => {
          resolve(data);
          conn.send({ reply: 'pong' });
        });
      });
    });
    const conn = a.peer.connect(b.id, { reliable: true });
    const reply = new Promise<unknown>((resolve) => conn.on('data', resolve));
    await new Promise<void>((resolve, reject) => {
      conn.on('open', () => resolve());
      conn.on('error', reject);
    });
    conn.send({ hello: 'ping' });
    expect(await received).toEqual({ hello: 'ping' });
    expect(await reply).toEqual({ reply: 'pong' });
    expect(conn.peer).toBe(b.id);
  });

  it('a PeerJS client with another member\'s id never opens', async () => {
    const [victim, intruder] = await Promise.all([generateIdentity(), generateIdentity()]);
    const peer = new Peer(victim.fingerprint, {
      host: '127.0.0.1',
      port,
      path: '/peerjs',
      key: 'peerjs',
      secure: false,
      token: await makeRegistrationToken(intruder, Date.now(), { id: victim.fingerprint }),
      config: { iceServers: [] },
      debug: 0,
    });
    peers.push(peer);
    const outcome = await new Promise<string>((resolve) => {
      peer.once('open', () => resolve('open'));
      peer.once('error', (e) => resolve(`error:${(e as { type?: string }).type ?? 'unknown'}`));
    });
    expect(outcome).toMatch(/^error:/);
    expect(signaling.online()).not.toContain(victim.fingerprint);
  });
});
