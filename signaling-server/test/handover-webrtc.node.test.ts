/**
 * The key handover over real WebRTC (DESIGN §6.3, §7): Node PeerJS peers (peerjs +
 * @roamhq/wrtc, loopback, `iceServers: []`) register through the real signaling server
 * with valid tokens, and run the handshake state machines with `runHandshake` over
 * `channelFromDataConnection` — the same code the extension runs in Chromium.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHandshake, type MessageChannel } from '@conclave/shared/p2p';
import { createGroup } from '@conclave/shared/crypto';
import { logHead } from '@conclave/shared/crypto';
import { HolderHandshake, JoinerHandshake, type HandshakeOutcome } from '@conclave/shared/crypto';
import { acceptInvite, createInvite, inviteKeysFromCode } from '@conclave/shared/crypto';
import { replayLog } from '@conclave/shared/crypto';
import { channelFromDataConnection } from '@conclave/shared/p2p';
import type { GroupId } from '@conclave/shared/protocol';
import { TestClient } from '../../shared/test/support/client.ts';
import { MemoryServer } from '../../shared/test/support/memory-server.ts';
import { build, type SignalingServer } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openPeer, type PeerInstance } from '../../scripts/node-peerjs.ts';

const HOUR = 3600_000;
const FAST = { timeoutMs: 5_000, closeGraceMs: 300 };

type DataConnection = import('peerjs').DataConnection;

async function joinByInvite(server: MemoryServer, joiner: TestClient, code: string): Promise<void> {
  const keys = await inviteKeysFromCode(code);
  const entry = await acceptInvite(await replayLog(server.log(keys.groupId)), keys, joiner.identity);
  server.append(keys.groupId, [entry]);
  await joiner.sync(server, keys.groupId);
}

describe('key handover over WebRTC through the signaling server', () => {
  let signaling: SignalingServer;
  let port: number;
  const peers: PeerInstance[] = [];
  const server = new MemoryServer();
  let groupId: GroupId;
  // holder: created the group; joiner: joined by invite, verified by the holder;
  // stranger: not in the log; unverified: joined by invite, never verified; other: a second member.
  let holder: TestClient, joiner: TestClient, stranger: TestClient, unverified: TestClient, other: TestClient;
  const peerOf = new Map<TestClient, PeerInstance>();

  beforeAll(async () => {
    signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    port = (signaling.server.address() as AddressInfo).port;

    const made = await Promise.all(['Holder', 'Joiner', 'Stranger', 'Unverified', 'Other'].map((name) => TestClient.create(name)));
    [holder, joiner, stranger, unverified, other] = made as [TestClient, TestClient, TestClient, TestClient, TestClient];
    const group = await createGroup(holder.identity);
    groupId = group.state.groupId;
    server.append(groupId, group.entries);
    holder.adopt(group.state);
    await holder.keepSeed(0, group.seed);
    for (const member of [joiner, unverified, other]) {
      const invite = await createInvite(holder.group, holder.identity, { role: 'member', expiresAt: Date.now() + HOUR });
      server.append(groupId, [invite.entry]);
      await holder.sync(server, groupId);
      await joinByInvite(server, member, invite.code);
      await holder.sync(server, groupId);
    }
    for (const c of [joiner, unverified, other]) await c.sync(server, groupId);
    // The stranger sees the group's log but is not in it.
    await stranger.sync(server, groupId);
    holder.trust.set(joiner.fingerprint, 'verified');
    joiner.trust.set(holder.fingerprint, 'verified');
    other.trust.set(joiner.fingerprint, 'verified');

    for (const c of [holder, joiner, stranger, unverified, other]) peerOf.set(c, await openPeer(port, c.identity, peers));
  });

  afterAll(async () => {
    for (const p of peers) p.destroy();
    await signaling.close();
  });

  /** Serves the handshake as `client` on every incoming connection; resolves with the first outcome. */
  function serveAsHolder(client: TestClient): Promise<HandshakeOutcome> {
    const peer = peerOf.get(client)!;
    return new Promise((resolve) => {
      peer.once('connection', (conn: DataConnection) => {
        const channel = channelFromDataConnection(conn);
        void runHandshake(channel, new HolderHandshake(client.identity, client.group, { seedFor: client.seedFor, trustOf: client.trustOf }), FAST).then(resolve);
      });
    });
  }

  /** Connects `client`'s peer to `peerId` and runs the joiner side, expecting `expected`'s fingerprint. */
  function joinVia(client: TestClient, peerId: string, expected: TestClient, options = FAST): { outcome: Promise<HandshakeOutcome>; conn: DataConnection; channel: MessageChannel } {
    const conn = peerOf.get(client)!.connect(peerId, { reliable: true });
    const channel = channelFromDataConnection(conn);
    const outcome = runHandshake(channel, new JoinerHandshake(client.identity, client.group, { expectedPeer: expected.fingerprint }), options);
    return { outcome, conn, channel };
  }

  it('the members agree on the log and are all online', () => {
    for (const c of [joiner, unverified, other, stranger]) expect(logHead(c.group)).toEqual(logHead(holder.group));
    expect(holder.group.members.has(joiner.fingerprint)).toBe(true);
    expect(holder.group.members.has(stranger.fingerprint)).toBe(false);
    expect(signaling.online()).toEqual(expect.arrayContaining([holder, joiner, stranger, unverified, other].map((c) => c.fingerprint)));
  });

  it('hands the seed to a verified member', async () => {
    const served = serveAsHolder(holder);
    const { outcome, conn } = joinVia(joiner, holder.fingerprint, holder);
    const [received, sent] = await Promise.all([outcome, served]);
    expect(sent).toMatchObject({ kind: 'sent', peer: joiner.fingerprint, generation: 0 });
    expect(received).toMatchObject({ kind: 'received', peer: holder.fingerprint, generation: 0 });
    if (received.kind !== 'received') throw new Error('no seed');
    expect(received.seed).toEqual(holder.seedFor(0));
    // The driver reports the seed first and tears the connection down on the next task.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(conn.open).toBe(false);
  });

  it('refuses someone who is not in the holder\'s log', async () => {
    const served = serveAsHolder(holder);
    const { outcome } = joinVia(stranger, holder.fingerprint, holder);
    const [refused, refusing] = await Promise.all([outcome, served]);
    expect(refusing).toMatchObject({ kind: 'refused', reason: 'not-a-member', by: 'me', peer: stranger.fingerprint });
    expect(refused).toMatchObject({ kind: 'refused', reason: 'not-a-member', by: 'peer' });
  });

  it('refuses an unverified member under the verified policy', async () => {
    expect(holder.group.policy).not.toBe('invite-trust');
    const served = serveAsHolder(holder);
    const { outcome } = joinVia(unverified, holder.fingerprint, holder);
    const [refused, refusing] = await Promise.all([outcome, served]);
    expect(refusing).toMatchObject({ kind: 'refused', reason: 'not-verified', by: 'me', peer: unverified.fingerprint });
    expect(refused).toMatchObject({ kind: 'refused', reason: 'not-verified', by: 'peer' });
  });

  it('refuses when the joiner reached another peer than the one it expects', async () => {
    // The joiner means the holder, but its connection lands on another member's peer.
    const served = serveAsHolder(other);
    const { outcome } = joinVia(joiner, other.fingerprint, holder);
    const [refused, refusing] = await Promise.all([outcome, served]);
    expect(refusing).toMatchObject({ kind: 'refused', reason: 'wrong-peer', by: 'me' });
    expect(refused).toMatchObject({ kind: 'refused', reason: 'wrong-peer', by: 'peer' });
  });

  it('ends as closed, promptly, when the connection drops after the hello', async () => {
    const peer = peerOf.get(holder)!;
    const hello = new Promise<unknown>((resolve) => {
      peer.once('connection', (conn: DataConnection) => {
        conn.on('data', (data) => {
          resolve(data);
          conn.close();
        });
      });
    });
    const { outcome, conn } = joinVia(joiner, holder.fingerprint, holder, { timeoutMs: 60_000, closeGraceMs: 300 });
    expect(JSON.parse((await hello) as string)).toMatchObject({ t: 'hello', expect: holder.fingerprint });
    expect(await outcome).toEqual({ kind: 'refused', reason: 'closed', by: 'channel' });
    // The close ended it (the timer is a minute away); the connection is closed on this side too.
    expect(conn.open).toBe(false);
  });

  it('ends as closed when the holder\'s peer is destroyed mid-handshake', async () => {
    // A holder of its own, so destroying it leaves the others online.
    const leaving = await TestClient.create('Leaving');
    leaving.adopt(holder.group);
    const peer = await openPeer(port, leaving.identity, peers);
    peerOf.set(leaving, peer);
    peer.once('connection', (conn: DataConnection) => {
      conn.on('data', () => peer.destroy());
    });
    const { outcome, conn } = joinVia(joiner, leaving.fingerprint, leaving, { timeoutMs: 60_000, closeGraceMs: 300 });
    expect(await outcome).toEqual({ kind: 'refused', reason: 'closed', by: 'channel' });
    expect(conn.open).toBe(false);
  });
});
