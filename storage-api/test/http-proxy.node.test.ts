/**
 * Behind a load balancer (CONCLAVE_TRUST_PROXY, docs/OPERATIONS.md "Scaling past one
 * machine"): a request from a listed proxy is limited by the client its
 * `X-Forwarded-For` names, HTTP and WebSocket alike; a request from anywhere else is
 * limited by its TCP peer, whatever header it sends (a client cannot pick its own key).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { wsUrl } from './support/live-socket.ts';
import { exchange, requestText, type RawAnswer } from './support/raw-http.ts';
import { startServer, type TestServer } from './support/server.ts';

function health(url: string, forwardedFor: string | null, localAddress = '127.0.0.1'): Promise<RawAnswer> {
  return exchange(url, requestText('GET', '/health', { headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} }), { localAddress });
}

describe('per-IP limits behind a trusted proxy', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { rateLimitPerMinute: 3, trustProxy: ['127.0.0.1'] } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('keys the limit on the forwarded client when the peer is a listed proxy', async () => {
    for (let i = 0; i < 3; i++) expect((await health(server.url, '10.0.0.1')).status).toBe(200);
    expect((await health(server.url, '10.0.0.1')).status).toBe(429);
    // Another client behind the same proxy has its own count.
    expect((await health(server.url, '10.0.0.2')).status).toBe(200);
    // The log shows the client, not the proxy.
    expect(server.logs()).toContain('"ip":"10.0.0.2"');
  });

  it('ignores X-Forwarded-For from a peer that is not a listed proxy', async () => {
    for (let i = 0; i < 3; i++) expect((await health(server.url, `10.0.1.${i}`, '127.0.0.9')).status).toBe(200);
    expect((await health(server.url, '10.0.1.99', '127.0.0.9')).status).toBe(429);
  });

  it('counts the messages of a WebSocket against the forwarded client, not the proxy', async () => {
    // Two requests and the upgrade: the forwarded client's three.
    for (let i = 0; i < 2; i++) expect((await health(server.url, '10.0.2.1')).status).toBe(200);
    const socket = new WebSocket(wsUrl(server.url), { headers: { 'x-forwarded-for': '10.0.2.1' } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    // The fourth: over the client's limit (the proxy's own address has used none).
    socket.send(JSON.stringify({ method: 'connectionParams', data: {} }));
    expect(await closed).toBe(1008);
  });
});
