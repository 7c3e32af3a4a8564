/**
 * The PeerJS registration lifecycle (extension/src/p2p/peer-registration.ts) against a
 * fake PeerJS world: a fresh token for every registration, a NEW peer after a lost
 * server or a refusal (never `reconnect()` with a spent token), backoff, stop.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RegistrationOptions } from '../../src/p2p/internal-messages.ts';
import { PeerRegistration } from '../../src/p2p/peer-registration.ts';
import { TransportError } from '../../src/p2p/transport-error.ts';
import { FakePeerNetwork, type FakeConnection } from './support/fake-peer.ts';

const ID = 'a'.repeat(52);
const OPTIONS = { id: ID, host: '127.0.0.1', port: 9000, secure: false, path: '/peerjs', key: 'peerjs', iceServers: [] } as unknown as RegistrationOptions;

function setup(overrides: { retireAfterMs?: number } = {}) {
  const network = new FakePeerNetwork();
  let n = 0;
  const token = vi.fn(async () => `token-${++n}`);
  const incoming: FakeConnection[] = [];
  const registration = new PeerRegistration({
    createPeer: network.createPeer,
    token,
    onConnection: (conn) => incoming.push(conn as FakeConnection),
    backoff: { initialMs: 20, maxMs: 80 },
    random: () => 1,
    ...overrides,
  });
  return { network, token, incoming, registration };
}

describe('PeerRegistration', () => {
  it('registers with a fresh token, and a second start with the same options is the same registration', async () => {
    const { network, token, registration } = setup();
    await registration.start(OPTIONS);
    expect(registration.registered).toBe(true);
    await registration.start(OPTIONS);
    expect(network.peers).toHaveLength(1);
    expect(token).toHaveBeenCalledTimes(1);
    expect(network.peers[0]!.options).toMatchObject({ host: '127.0.0.1', port: 9000, path: '/peerjs', key: 'peerjs', token: 'token-1', config: { iceServers: [] } });
    registration.stop();
  });

  it('a lost signaling server brings a NEW peer with a NEW token after the backoff', async () => {
    const { network, registration } = setup();
    await registration.start(OPTIONS);
    network.peers[0]!.loseServer();
    expect(registration.registered).toBe(false);
    await vi.waitFor(() => expect(registration.registered).toBe(true));
    expect(network.peers).toHaveLength(2);
    expect(network.online.get(ID)).toBe(network.peers[1]);
    expect(network.tokens).toEqual(['token-1', 'token-2']);
    registration.stop();
  });

  it('a refused registration rejects start(), then keeps retrying with growing delays until admitted', async () => {
    const { network, registration } = setup();
    let refusals = 3;
    const at: number[] = [];
    network.check = async () => {
      at.push(Date.now());
      return refusals-- > 0 ? { type: 'server-error', message: 'refused (401)' } : null;
    };
    await expect(registration.start(OPTIONS)).rejects.toMatchObject({ name: 'TransportError', reason: 'registration-failed' });
    expect(registration.lastError).toContain('refused (401)');
    await vi.waitFor(() => expect(registration.registered).toBe(true), { timeout: 2_000 });
    expect(network.tokens).toEqual(['token-1', 'token-2', 'token-3', 'token-4']);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 20, 40, 80 ms (jitter pinned to the full delay), give or take the timers.
    // Lower bounds only: timers may fire late, never early.
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[1]).toBeGreaterThanOrEqual(35);
    expect(gaps[2]).toBeGreaterThanOrEqual(75);
    expect(registration.lastError).toBeUndefined();
    registration.stop();
  });

  it('a token that cannot be made is a failed attempt, retried', async () => {
    const network = new FakePeerNetwork();
    let calls = 0;
    const registration = new PeerRegistration({
      createPeer: network.createPeer,
      token: async () => {
        if (++calls === 1) throw new Error('no identity yet');
        return 'token-ok';
      },
      onConnection: () => {},
      backoff: { initialMs: 10, maxMs: 10 },
    });
    await expect(registration.start(OPTIONS)).rejects.toThrow(/no identity yet/);
    expect(network.peers).toHaveLength(0);
    await vi.waitFor(() => expect(registration.registered).toBe(true));
    registration.stop();
  });

  it('an unknown peer closes that dialled connection only and does not re-register', async () => {
    const { network, registration } = setup();
    await registration.start(OPTIONS);
    const conn = registration.connect('b'.repeat(52)) as FakeConnection;
    const closed = vi.fn();
    conn.on('close', closed);
    await vi.waitFor(() => expect(closed).toHaveBeenCalled());
    expect(registration.registered).toBe(true);
    expect(network.peers).toHaveLength(1);
    registration.stop();
  });

  it('incoming connections reach onConnection; outgoing ones connect when registered only', async () => {
    const { network, registration, incoming } = setup();
    expect(registration.connect('b'.repeat(52))).toBeUndefined();
    await registration.start(OPTIONS);
    const other = network.createPeer('b'.repeat(52), { ...network.peers[0]!.options, token: 'other' });
    await new Promise((resolve) => other.on('open', resolve));
    other.connect(ID, { reliable: true });
    await vi.waitFor(() => expect(incoming).toHaveLength(1));
    expect(incoming[0]!.peer).toBe('b'.repeat(52));
    registration.stop();
  });

  it('stop() destroys the peer, rejects waiters and stops retrying', async () => {
    const { network, registration } = setup();
    network.check = async () => ({ type: 'server-error', message: 'down' });
    const first = registration.start(OPTIONS);
    await expect(first).rejects.toBeInstanceOf(TransportError);
    registration.stop();
    const tokensAtStop = network.tokens.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(network.tokens.length).toBe(tokensAtStop);
    expect(network.peers.every((p) => p.destroyed)).toBe(true);
  });

  it('new options replace the registration (settings changed)', async () => {
    const { network, registration } = setup();
    await registration.start(OPTIONS);
    await registration.start({ ...OPTIONS, port: 9001 });
    expect(network.peers).toHaveLength(2);
    expect(network.peers[0]!.destroyed).toBe(true);
    expect(network.peers[1]!.options.port).toBe(9001);
    registration.stop();
  });

  it('a replaced peer keeps its open connections for a grace period, then is destroyed', async () => {
    const { network, registration, incoming } = setup({ retireAfterMs: 400 });
    await registration.start(OPTIONS);
    const other = network.createPeer('c'.repeat(52), { ...network.peers[0]!.options, token: 'other' });
    await new Promise((resolve) => other.on('open', resolve));
    const theirs = other.connect(ID, { reliable: true }) as FakeConnection;
    await vi.waitFor(() => expect(theirs.open).toBe(true));
    network.peers[0]!.loseServer();
    await vi.waitFor(() => expect(registration.registered).toBe(true));
    // The handshake in flight still flows on the old peer's connection…
    const got: unknown[] = [];
    incoming[0]!.on('data', (d: unknown) => got.push(d));
    theirs.send('still flowing');
    await vi.waitFor(() => expect(got).toEqual(['still flowing']));
    expect(network.peers[0]!.destroyed).toBe(false);
    // …until the grace period ends.
    await vi.waitFor(() => expect(network.peers[0]!.destroyed).toBe(true));
    await vi.waitFor(() => expect(theirs.closed).toBe(true));
    registration.stop();
  });
});
