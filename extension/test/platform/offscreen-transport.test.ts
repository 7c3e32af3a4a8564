/**
 * The Chrome transport end to end in memory: the background side
 * (offscreen-transport.ts) and the offscreen document (offscreen-host.ts) on a fake
 * runtime bus, PeerJS faked, registration tokens checked by the signaling server's
 * real verifier. Covers the sender checks on token requests and ports, the
 * connection that wakes the worker before `onIncoming`, and a closed offscreen
 * document being recreated.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageChannel } from '@conclave/shared/p2p';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import { createRegistrationVerifier } from '../../../signaling-server/src/auth.ts';
import type { Settings } from '../../src/messages/views.ts';
import { P2P_CHANNEL } from '../../src/p2p/internal-messages.ts';
import { startOffscreenHost, type OffscreenHost } from '../../src/p2p/offscreen-host.ts';
import { createOffscreenTransport, type OffscreenApi } from '../../src/p2p/offscreen-transport.ts';
import type { PeerTransport } from '../../src/p2p/transport.ts';
import { FakePeerNetwork } from './support/fake-peer.ts';
import { FakeExtension, type FakeContext } from './support/fake-runtime.ts';

const verifier = createRegistrationVerifier({ maxAgeMs: 60_000 });

function newNetwork(): FakePeerNetwork {
  const network = new FakePeerNetwork();
  network.check = async (peer) => {
    const result = await verifier.verifyRegistration(peer.id, peer.options.token, Date.now());
    return result.ok ? null : { type: 'server-error', message: `registration refused (${result.reason})` };
  };
  return network;
}

function fakeSignalingFetch(network: FakePeerNetwork, reachable: () => boolean = () => true): typeof fetch {
  return (async (input: string | URL | Request) => {
    if (!reachable()) throw new TypeError('Failed to fetch');
    const url = new URL(String(input));
    if (url.pathname.endsWith('/config')) return Response.json({ path: '/peerjs', key: 'peerjs', iceServers: [{ urls: 'stun:server.example' }] });
    if (url.pathname.endsWith('/presence')) {
      const ids = (url.searchParams.get('ids') ?? '').split(',');
      return Response.json({ online: ids.filter((id) => network.online.has(id)) });
    }
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
}

interface Device {
  ext: FakeExtension;
  background: FakeContext;
  offscreen(): FakeContext | undefined;
  host(): OffscreenHost | undefined;
  created(): number;
  transport: PeerTransport;
  identity: DeviceIdentity;
  fingerprint: Fingerprint;
  settings: Settings;
  setIdentity(identity: DeviceIdentity | null): void;
}

const devices: Device[] = [];
afterEach(async () => {
  for (const device of devices.splice(0)) await device.transport.stop();
});

async function device(network: FakePeerNetwork, options: { reachable?: () => boolean } = {}): Promise<Device> {
  const ext = new FakeExtension();
  const background = ext.context(ext.getURL('/background.js'));
  let offscreen: FakeContext | undefined;
  let host: OffscreenHost | undefined;
  let created = 0;
  const api: OffscreenApi = {
    async createDocument({ url, reasons }) {
      expect(reasons).toEqual(['WEB_RTC']);
      if (ext.offscreenOpen) throw new Error('Only a single offscreen document may be created.');
      created++;
      ext.offscreenOpen = true;
      offscreen = ext.context(ext.getURL(`/${url}`));
      host = startOffscreenHost({ runtime: offscreen.runtime, createPeer: network.createPeer, backoff: { initialMs: 20, maxMs: 40 } });
    },
    async closeDocument() {
      if (!offscreen) return;
      // The document goes away, and PeerJS with it.
      offscreen.alive = false;
      host?.registration.stop();
      ext.offscreenOpen = false;
    },
  };
  let identity: DeviceIdentity | null = await generateIdentity();
  const settings: Settings = { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000/peerjs/', iceServers: [] };
  const transport = createOffscreenTransport(
    { identity: async () => identity, settings: async () => settings },
    { runtime: background.runtime, offscreen: api, fetch: fakeSignalingFetch(network, options.reachable), startTimeoutMs: 3_000, readyTimeoutMs: 1_000 },
  );
  const made: Device = {
    ext,
    background,
    offscreen: () => offscreen,
    host: () => host,
    created: () => created,
    transport,
    identity: identity,
    fingerprint: identity.fingerprint,
    settings,
    setIdentity: (next) => {
      identity = next;
    },
  };
  devices.push(made);
  return made;
}

function collect(channel: MessageChannel): unknown[] {
  const got: unknown[] = [];
  channel.onMessage((data) => got.push(data));
  return got;
}

function echo(transport: PeerTransport): MessageChannel[] {
  const seen: MessageChannel[] = [];
  transport.onIncoming((channel) => {
    seen.push(channel);
    channel.onMessage((text) => channel.send(`echo ${String(text)}`));
  });
  return seen;
}

describe('the offscreen transport (Chrome)', () => {
  it('start() creates the offscreen document once and registers under the fingerprint with a token the server accepts', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    expect(a.created()).toBe(1);
    expect(network.online.get(a.fingerprint)?.options).toMatchObject({ host: '127.0.0.1', port: 9000, secure: false, path: '/peerjs', key: 'peerjs', config: { iceServers: [{ urls: 'stun:server.example' }] } });
    await a.transport.start();
    expect(a.created()).toBe(1);
    expect(network.peersOf(a.fingerprint)).toHaveLength(1);
    expect(network.tokens).toHaveLength(1);
  });

  it('ICE servers from the options page win over the server\'s', async () => {
    const network = newNetwork();
    const a = await device(network);
    a.settings.iceServers = [{ urls: 'turn:mine.example', username: 'u', credential: 'p' }];
    await a.transport.start();
    expect(network.online.get(a.fingerprint)?.options.config.iceServers).toEqual([{ urls: 'turn:mine.example', username: 'u', credential: 'p' }]);
  });

  it('a channel to another device carries text both ways and closes both ends', async () => {
    const network = newNetwork();
    const [a, b] = [await device(network), await device(network)];
    const atB = echo(b.transport);
    await Promise.all([a.transport.start(), b.transport.start()]);
    expect(await a.transport.online([b.fingerprint, 'q'.repeat(52) as Fingerprint])).toEqual([b.fingerprint]);
    const channel = a.transport.connect(b.fingerprint);
    const got = collect(channel);
    channel.send('one');
    channel.send('two');
    await vi.waitFor(() => expect(got).toEqual(['echo one', 'echo two']));
    const closedAtB = vi.fn();
    atB[0]!.onClose(closedAtB);
    channel.close();
    await vi.waitFor(() => expect(closedAtB).toHaveBeenCalledTimes(1));
  });

  it('connect() before start() registers first; a peer that is not online closes the channel', async () => {
    const network = newNetwork();
    const [a, b] = [await device(network), await device(network)];
    echo(b.transport);
    await b.transport.start();
    const channel = a.transport.connect(b.fingerprint);
    const got = collect(channel);
    channel.send('early');
    await vi.waitFor(() => expect(got).toEqual(['echo early']));
    const nobody = a.transport.connect('z'.repeat(52) as Fingerprint);
    const closed = vi.fn();
    nobody.onClose(closed);
    await vi.waitFor(() => expect(closed).toHaveBeenCalled());
  });

  it('a connection that arrives before onIncoming (the worker just woke) is kept for the handler', async () => {
    const network = newNetwork();
    const [a, b] = [await device(network), await device(network)];
    await Promise.all([a.transport.start(), b.transport.start()]);
    const channel = a.transport.connect(b.fingerprint);
    channel.send('sent while nobody listened');
    // The port reaches B's background before any handler is registered.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const got: unknown[] = [];
    b.transport.onIncoming((incoming) => incoming.onMessage((text) => got.push(text)));
    await vi.waitFor(() => expect(got).toEqual(['sent while nobody listened']));
  });

  it('registration tokens are given to the offscreen document only', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    const ask = { channel: P2P_CHANNEL, to: 'background', type: 'token' };
    const popup = a.ext.context(a.ext.getURL('/popup.html'));
    await expect(popup.send(ask, popup.sender())).resolves.toMatchObject({ ok: false, error: expect.stringMatching(/refused/) });
    // A content script carries a tab; another extension another id; a web page no id.
    await expect(popup.send(ask, { id: a.ext.id, url: a.ext.getURL('/offscreen.html'), tab: { id: 1 } })).resolves.toMatchObject({ ok: false });
    await expect(popup.send(ask, { id: 'another-extension', url: 'chrome-extension://another-extension/offscreen.html' })).resolves.toMatchObject({ ok: false });
    await expect(popup.send(ask, { url: 'https://evil.example/offscreen.html' })).resolves.toMatchObject({ ok: false });
    const offscreen = a.offscreen()!;
    const reply = (await offscreen.send(ask, offscreen.sender())) as { ok: boolean; token: string };
    expect(reply.ok).toBe(true);
    await expect(verifier.verifyRegistration(a.fingerprint, reply.token, Date.now())).resolves.toEqual({ ok: true, id: a.fingerprint });
    // Fresh every time.
    const again = (await offscreen.send(ask, offscreen.sender())) as { ok: boolean; token: string };
    expect(again.token).not.toBe(reply.token);
  });

  it('offscreen commands from outside the extension are refused', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    const page = a.ext.context(a.ext.getURL('/popup.html'));
    const stop = { channel: P2P_CHANNEL, to: 'offscreen', type: 'stop' };
    await expect(page.send(stop, { id: a.ext.id, url: 'https://evil.example/', tab: { id: 3 } })).resolves.toMatchObject({ ok: false });
    expect(network.online.has(a.fingerprint)).toBe(true);
  });

  it('a data-connection port opened by a page, not the offscreen document, is cut', async () => {
    const network = newNetwork();
    const a = await device(network);
    const incoming = vi.fn();
    a.transport.onIncoming(incoming);
    const page = a.ext.context(a.ext.getURL('/popup.html'));
    const port = page.runtime.connect({ name: 'conclave.p2p:in:0123456789abcdef' });
    await vi.waitFor(() => expect(port.disconnected).toBe(true));
    expect(incoming).not.toHaveBeenCalled();
  });

  it('a closed offscreen document is recreated by the next start(), which registers again', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    // Chrome closed it (or it crashed): its peer is gone.
    a.offscreen()!.alive = false;
    a.host()!.registration.stop();
    a.ext.offscreenOpen = false;
    expect(network.online.has(a.fingerprint)).toBe(false);
    await a.transport.start();
    expect(a.created()).toBe(2);
    expect(network.online.has(a.fingerprint)).toBe(true);
    expect(network.tokens).toHaveLength(2);
  });

  it('new settings: start() replaces the registration', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    a.settings.signalingUrl = 'https://signal.example.org/peerjs';
    await a.transport.start();
    expect(network.online.get(a.fingerprint)?.options).toMatchObject({ host: 'signal.example.org', port: 443, secure: true });
    expect(network.peersOf(a.fingerprint)[0]!.destroyed).toBe(true);
  });

  it('start() says why it cannot register: no identity, or the server cannot be reached', async () => {
    const network = newNetwork();
    let reachable = true;
    const a = await device(network, { reachable: () => reachable });
    a.setIdentity(null);
    await expect(a.transport.start()).rejects.toMatchObject({ name: 'TransportError', reason: 'no-identity' });
    expect(a.created()).toBe(0);
    a.setIdentity(a.identity);
    reachable = false;
    await expect(a.transport.start()).rejects.toMatchObject({ name: 'TransportError', reason: 'signaling-unreachable' });
    reachable = true;
    await a.transport.start();
    expect(network.online.has(a.fingerprint)).toBe(true);
  });

  it('a refused registration rejects start() and is retried with a fresh token', async () => {
    const network = newNetwork();
    const real = network.check;
    let refusals = 1;
    network.check = async (peer) => (refusals-- > 0 ? { type: 'server-error', message: 'registration refused (replayed)' } : real(peer));
    const a = await device(network);
    await expect(a.transport.start()).rejects.toMatchObject({ reason: 'registration-failed', message: expect.stringMatching(/replayed/) });
    await vi.waitFor(() => expect(network.online.has(a.fingerprint)).toBe(true));
    expect(new Set(network.tokens).size).toBe(2);
    await a.transport.start();
  });

  it('stop() unregisters and closes the offscreen document', async () => {
    const network = newNetwork();
    const a = await device(network);
    await a.transport.start();
    await a.transport.stop();
    expect(network.online.has(a.fingerprint)).toBe(false);
    expect(a.ext.offscreenOpen).toBe(false);
    await a.transport.start();
    expect(network.online.has(a.fingerprint)).toBe(true);
  });
});
