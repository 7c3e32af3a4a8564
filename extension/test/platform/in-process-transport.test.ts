/**
 * The Firefox transport (PeerJS in the background page itself) against the fake
 * PeerJS world: tokens made in process and accepted by the signaling server's
 * verifier, text both ways, incoming channels kept until `onIncoming`, stop.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageChannel } from '@conclave/shared/p2p';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import { createRegistrationVerifier } from '../../../signaling-server/src/auth.ts';
import type { Settings } from '../../src/messages/views.ts';
import { createInProcessTransport } from '../../src/p2p/in-process-transport.ts';
import type { PeerTransport } from '../../src/p2p/transport.ts';
import { FakePeerNetwork } from './support/fake-peer.ts';

const verifier = createRegistrationVerifier({ maxAgeMs: 60_000 });
const settings: Settings = { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000/peerjs', iceServers: [] };
const transports: PeerTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.stop();
});

function network(): FakePeerNetwork {
  const net = new FakePeerNetwork();
  net.check = async (peer) => {
    const result = await verifier.verifyRegistration(peer.id, peer.options.token, Date.now());
    return result.ok ? null : { type: 'server-error', message: result.reason };
  };
  return net;
}

function fetchFor(net: FakePeerNetwork): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    if (url.pathname.endsWith('/config')) return Response.json({ path: '/peerjs', key: 'peerjs', iceServers: [] });
    const ids = (url.searchParams.get('ids') ?? '').split(',');
    return Response.json({ online: ids.filter((id) => net.online.has(id)) });
  }) as typeof fetch;
}

async function device(net: FakePeerNetwork, identity: DeviceIdentity | null) {
  const me = identity;
  const transport = createInProcessTransport({ identity: async () => me, settings: async () => settings }, net.createPeer, { fetch: fetchFor(net), startTimeoutMs: 2_000 });
  transports.push(transport);
  return transport;
}

describe('the in-process transport (Firefox)', () => {
  it('registers with a verified token, carries text both ways, keeps early incoming channels', async () => {
    const net = network();
    const [ia, ib] = [await generateIdentity(), await generateIdentity()];
    const [a, b] = [await device(net, ia), await device(net, ib)];
    await Promise.all([a.start(), b.start()]);
    expect([...net.online.keys()].sort()).toEqual([ia.fingerprint, ib.fingerprint].sort());
    expect(await a.online([ib.fingerprint])).toEqual([ib.fingerprint]);
    const channel = a.connect(ib.fingerprint);
    channel.send('before anyone listens');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const incoming: MessageChannel[] = [];
    b.onIncoming((c) => {
      incoming.push(c);
      c.onMessage((text) => c.send(`echo ${String(text)}`));
    });
    const got: unknown[] = [];
    channel.onMessage((d) => got.push(d));
    await vi.waitFor(() => expect(got).toEqual(['echo before anyone listens']));
    const closed = vi.fn();
    incoming[0]!.onClose(closed);
    channel.close();
    await vi.waitFor(() => expect(closed).toHaveBeenCalled());
  });

  it('connect() registers first when needed; start() without an identity says so', async () => {
    const net = network();
    const ib = await generateIdentity();
    const b = await device(net, ib);
    b.onIncoming((c) => c.onMessage((text) => c.send(`echo ${String(text)}`)));
    await b.start();
    const a = await device(net, await generateIdentity());
    const channel = a.connect(ib.fingerprint as Fingerprint);
    const got: unknown[] = [];
    channel.onMessage((d) => got.push(d));
    channel.send('x');
    await vi.waitFor(() => expect(got).toEqual(['echo x']));
    const nobody = await device(net, null);
    await expect(nobody.start()).rejects.toMatchObject({ reason: 'no-identity' });
    await b.stop();
    expect(net.online.has(ib.fingerprint)).toBe(false);
  });
});
