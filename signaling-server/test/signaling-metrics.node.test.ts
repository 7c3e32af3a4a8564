/**
 * /metrics of one signaling node (no Redis): on a listener of its own, counting
 * registrations by outcome, frames relayed and dropped, peers online — with no peer
 * id, token or address in any label. And the configuration of several nodes.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { build, type SignalingServer } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { serveMetrics } from '../src/metrics.ts';
import { connectPeer } from './support/ws-client.ts';

describe('metrics of one node', () => {
  let signaling: SignalingServer;
  let wsUrl: string;
  let port: number;
  let listener: { port: number; close(): Promise<void> };
  let alice: DeviceIdentity, bob: DeviceIdentity;

  beforeAll(async () => {
    signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    port = (signaling.server.address() as AddressInfo).port;
    wsUrl = `ws://127.0.0.1:${port}${signaling.wsPath}`;
    listener = await serveMetrics(signaling.metrics, 0, '127.0.0.1');
    [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
  });
  afterAll(async () => {
    await listener.close();
    await signaling.close();
  });

  const scrape = async () => (await fetch(`http://127.0.0.1:${listener.port}/metrics`)).text();
  const value = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? NaN);

  it('counts registrations, refusals by reason, frames relayed and dropped, and peers online', async () => {
    const token = await makeRegistrationToken(alice);
    const a = await connectPeer(wsUrl, alice.fingerprint, token);
    const b = await connectPeer(wsUrl, bob.fingerprint, await makeRegistrationToken(bob));
    if (a.kind !== 'open' || b.kind !== 'open') throw new Error('not open');
    expect(await connectPeer(wsUrl, bob.fingerprint, 'garbage')).toMatchObject({ status: 401 });
    expect(await connectPeer(wsUrl, 'not-an-id', 'garbage')).toMatchObject({ status: 400 });
    a.client.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'x'.repeat(17 * 1024) } });
    a.client.send({ type: 'OFFER', dst: bob.fingerprint, payload: { sdp: 'ok' } });
    await b.client.next((m) => m.type === 'OFFER');
    const text = await scrape();
    expect(value(text, 'conclave_signal_peers_online')).toBe(2);
    expect(value(text, 'conclave_signal_registrations_total{result="ok",reason=""}')).toBe(2);
    expect(value(text, 'conclave_signal_registrations_total{result="refused",reason="malformed-token"}')).toBe(1);
    expect(value(text, 'conclave_signal_registrations_total{result="refused",reason="bad-parameters"}')).toBe(1);
    expect(value(text, 'conclave_signal_frames_relayed_total')).toBe(1);
    expect(value(text, 'conclave_signal_frames_dropped_total{reason="oversize"}')).toBe(1);
    expect(value(text, 'conclave_signal_cross_node_relays_total{direction="sent"}')).toBe(0);
    // One node: no Redis series.
    expect(text).not.toContain('conclave_signal_redis_up');
    // Nothing a client chose: no id, no token, no address.
    for (const secret of [alice.fingerprint, bob.fingerprint, token, 'not-an-id', '127.0.0.1']) expect(text).not.toContain(secret);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('answers only GET /metrics on its own listener, and nothing on the signaling port', async () => {
    expect((await fetch(`http://127.0.0.1:${listener.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${listener.port}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/peerjs/metrics`)).status).not.toBe(200);
  });
});

describe('configuration of several nodes', () => {
  it('reads REDIS_URL, the prefix, the presence expiry and the metrics listener', () => {
    const single = loadConfig({});
    expect(single.redisUrl).toBeUndefined();
    expect(single.metricsPort).toBeUndefined();
    expect(single).toMatchObject({ redisPrefix: 'conclave:signal:', presenceTtlMs: 15_000, metricsHost: '127.0.0.1' });
    expect(
      loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', CONCLAVE_SIGNAL_REDIS_PREFIX: 'team-a:', CONCLAVE_SIGNAL_PRESENCE_TTL_MS: '5000', CONCLAVE_SIGNAL_METRICS_PORT: '9464' }),
    ).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', redisPrefix: 'team-a:', presenceTtlMs: 5000, metricsPort: 9464 });
    expect(() => loadConfig({ REDIS_URL: 'http://example.org' })).toThrow(/redisUrl/);
    expect(() => loadConfig({ CONCLAVE_SIGNAL_REDIS_PREFIX: 'has space' })).toThrow(/redisPrefix/);
    expect(() => loadConfig({ CONCLAVE_SIGNAL_PRESENCE_TTL_MS: '10' })).toThrow(/presenceTtlMs/);
  });
});
