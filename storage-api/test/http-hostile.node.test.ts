/**
 * The storage API's HTTP surface under a hostile caller (issue 10, items 7 and 9), over
 * real sockets on loopback (SQLite): every non-2xx answer — from tRPC, from Fastify or
 * from Node's HTTP parser — has the documented error shape (docs/API.md "Errors on the
 * wire"); batches are capped and every call of a batch counts against the per-IP and
 * per-session limits; the batch path is capped at the documented 256 characters; wrong
 * methods are 405, never 500; slow requests are cut; a 404 does not log its query.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_CALLS, MAX_BATCH_PATH_CHARS } from '@conclave/shared/protocol';
import { base64urlLength } from '@conclave/shared/protocol';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { errorShapeProblem, exchange, requestText, type RawAnswer } from './support/raw-http.ts';
import { startServer, type TestServer } from './support/server.ts';

function expectShape(answer: { status: number; body: unknown }, status: number, conclave?: string, method?: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(errorShapeProblem(answer.status, answer.body, method ? { method } : {}), JSON.stringify(answer.body)).toBeNull();
  if (conclave && method !== 'HEAD') expect((answer.body as { error: { data: { conclave: { code: string } } } }).error.data.conclave.code).toBe(conclave);
}

async function get(url: string, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<RawAnswer> {
  return exchange(url, requestText('GET', path, { headers }), localAddress ? { localAddress } : {});
}

function batchPath(names: string[]): string {
  return `/trpc/${names.join(',')}?batch=1`;
}

describe('storage API under a hostile caller (sqlite)', () => {
  let server: TestServer;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    server = await startServer('sqlite');
    servers.push(server);
  });

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.close()));
  });

  // Regression: TRACE reached tRPC's fetch adapter, which threw ("'TRACE' HTTP method is
  // unsupported"): a 500 with a stack in the log. PUT, DELETE, PATCH, OPTIONS were 415.
  it('answers TRACE and every method but GET and POST on /trpc/* with 405 in the error shape, logging no stack', async () => {
    for (const method of ['TRACE', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND']) {
      const answer = await exchange(server.url, requestText(method, '/trpc/meta.version'));
      expectShape(answer, 405, 'BAD_REQUEST', method);
      expect(answer.headers.allow).toBe('GET, POST');
    }
    expect(server.logs()).not.toMatch(/"stack"/);
    expect(server.logs()).not.toMatch(/HTTP method is unsupported/);
    // A query sent as POST, a mutation sent as GET: tRPC's own 405, BAD_REQUEST and a specific message.
    const post = await exchange(server.url, requestText('POST', '/trpc/meta.version', { headers: { 'content-type': 'application/json' }, body: '' }));
    expectShape(post, 405, 'BAD_REQUEST');
    expect((post.body as { error: { message: string } }).error.message).toMatch(/POST/);
    expectShape(await get(server.url, '/trpc/auth.challenge'), 405, 'BAD_REQUEST');
  });

  it(`caps a batch at ${MAX_BATCH_CALLS} calls, refusing a longer one before any call runs`, async () => {
    const full = await get(server.url, batchPath(Array(MAX_BATCH_CALLS).fill('meta.version')));
    expect(full.status).toBe(200);
    expect(full.body).toHaveLength(MAX_BATCH_CALLS);
    // 17 short names fit in the 256-character path: the call count is what refuses it.
    const over = await get(server.url, batchPath(Array(MAX_BATCH_CALLS + 1).fill('meta.version')));
    expectShape(over, 400, 'BAD_REQUEST');
    expect((over.body as { error: { message: string } }).error.message).toContain(String(MAX_BATCH_CALLS));
  });

  // Regression: the path parameter took 8,192 characters (about 600 calls per batch)
  // against the documented 256, and beyond it Fastify answered 414 in its own body.
  it(`caps the batch path at ${MAX_BATCH_PATH_CHARS} characters and answers 414 in the error shape beyond`, async () => {
    const fits = 'x'.repeat(MAX_BATCH_PATH_CHARS);
    expectShape(await get(server.url, `/trpc/${fits}`), 404, 'NOT_FOUND');
    const tooLong = await get(server.url, `/trpc/${fits}y`);
    expectShape(tooLong, 414, 'BAD_REQUEST');
    expect(tooLong.text).not.toContain(fits);
    expectShape(await get(server.url, batchPath(Array(600).fill('meta.version'))), 414, 'BAD_REQUEST');
  });

  // Regression: the per-IP limit counted an HTTP request once, whatever it carried.
  it('counts every call of a batch against the per-IP limit, public procedures included', async () => {
    const limited = await startServer('sqlite', { config: { rateLimitPerMinute: 20 } });
    servers.push(limited);
    expect((await get(limited.url, batchPath(Array(16).fill('meta.version')))).status).toBe(200);
    const refused = await get(limited.url, batchPath(Array(16).fill('meta.version')));
    expectShape(refused, 429, 'TOO_MANY_REQUESTS');
    expect(refused.text).toMatch(/too many requests: try again in \d+ s/);
    // Another client address is not affected.
    expect((await get(limited.url, '/trpc/meta.version', {}, '127.0.0.2')).status).toBe(200);
    expectShape(await get(limited.url, '/health'), 429, 'TOO_MANY_REQUESTS');
  });

  // Regression: public procedures did not count against the session at all.
  it('counts every call of a batch against the per-session limit, public procedures included', async () => {
    const limited = await startServer('sqlite', { config: { rateLimitPerMinute: 20 } });
    servers.push(limited);
    const device = await newDevice('Counted', limited.url, { publish: false }); // 2 calls from 127.0.0.1, none in the session
    const auth = { authorization: `Bearer ${device.session.token}` };
    // Two addresses, so that neither reaches the per-IP limit: only the session does.
    expect((await get(limited.url, batchPath(Array(10).fill('meta.version')), auth, '127.0.0.2')).status).toBe(200);
    // Calls are counted one by one: the 21st call of the session is the first refused.
    const refused = await get(limited.url, batchPath(Array(11).fill('meta.version')), auth, '127.0.0.3');
    expect(refused.status, refused.text).toBe(207);
    const items = refused.body as Array<{ result?: unknown; error?: { message: string; data: { conclave: { code: string } } } }>;
    expect(items.slice(0, 10).every((item) => item.result !== undefined)).toBe(true);
    expect(items[10]?.error?.data.conclave.code).toBe('TOO_MANY_REQUESTS');
    expect(items[10]?.error?.message).toMatch(/too many requests in this session/);
    expect(errorShapeProblem(429, [items[10]])).toBeNull();
    // The same calls without the session token from a third address still go through.
    expect((await get(limited.url, batchPath(Array(10).fill('meta.version')), {}, '127.0.0.4')).status).toBe(200);
  });

  it('answers wrong content types, empty JSON bodies and unknown paths in the error shape', async () => {
    const post = (path: string, contentType: string | null, body: string) =>
      exchange(server.url, requestText('POST', path, { headers: contentType ? { 'content-type': contentType } : {}, body }));
    // tRPC's 415 and Fastify's 415.
    expectShape(await post('/trpc/auth.challenge', 'text/plain', 'x'), 415, 'BAD_REQUEST');
    expectShape(await post('/trpc/auth.challenge', 'application/xml', '<x/>'), 415, 'BAD_REQUEST');
    // Fastify's FST_ERR_CTP_EMPTY_JSON_BODY, on a wrong path.
    expectShape(await post('/nothing', 'application/json', ''), 400, 'BAD_REQUEST');
    expectShape(await get(server.url, '/nothing'), 404, 'NOT_FOUND');
    expectShape(await get(server.url, '/trpc/no.such'), 404, 'NOT_FOUND');
  });

  // Regression: Fastify's 404 logged "Route GET:/nothing?input=… not found".
  it('never logs the query string of a request to an unknown path', async () => {
    const marker = `q${randomBytes(8).toString('hex')}`;
    const answer = await get(server.url, `/nothing/here?input=${marker}&token=${marker}`);
    expectShape(answer, 404, 'NOT_FOUND');
    expect(answer.text).not.toContain(marker);
    await exchange(server.url, requestText('GET', `/trpc/${'x'.repeat(300)}?input=${marker}`));
    await exchange(server.url, requestText('POST', `/else?input=${marker}`, { headers: { 'content-type': 'application/json' }, body: '' }));
    expect(server.logs()).not.toContain(marker);
  });

  it('answers what Node refuses before Fastify — a malformed request, a head over 16 KiB, no Host — in the error shape', async () => {
    // Fastify's "Client Error" 400.
    expectShape(await exchange(server.url, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), 400, 'BAD_REQUEST');
    expectShape(await exchange(server.url, 'NOT-A-METHOD!! / HTTP/1.1\r\n\r\n'), 400, 'BAD_REQUEST');
    // 431 over 16 KiB of headers.
    expectShape(await get(server.url, '/health', { 'x-big': 'a'.repeat(17 * 1024) }), 431, 'BAD_REQUEST');
    // HTTP/1.1 without Host: was an empty-bodied 400 from Node.
    expectShape(await exchange(server.url, requestText('GET', '/health', { host: null })), 400, 'BAD_REQUEST');
    // An expectation Node does not meet: was an empty-bodied 417.
    expectShape(await get(server.url, '/health', { expect: 'the-impossible' }), 417, 'BAD_REQUEST');
    expect((await get(server.url, '/health')).status).toBe(200);
  });

  // Regression: a 100-byte body trickled over 100 s got 200; the head had 60 s.
  it('cuts a request whose head or body arrives too slowly, with 408 in the error shape', async () => {
    const slow = await startServer('sqlite', { config: { requestTimeoutMs: 1500, headersTimeoutMs: 1000 } });
    servers.push(slow);
    const body = JSON.stringify({ padding: 'x'.repeat(80) });
    const trickled = await exchange(slow.url, requestText('POST', '/trpc/auth.challenge', { headers: { 'content-type': 'application/json' }, body }), {
      chunkBytes: 4,
      chunkDelayMs: 100,
      timeoutMs: 8000,
    });
    expectShape(trickled, 408, 'BAD_REQUEST');
    expect(trickled.elapsedMs).toBeLessThan(4000);
    // A head that never ends.
    const head = await exchange(slow.url, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', { timeoutMs: 6000 });
    expectShape(head, 408, 'BAD_REQUEST');
    expect(head.elapsedMs).toBeLessThan(4000);
    expect(slow.app.fastify.server.requestTimeout).toBe(1500);
    expect(slow.app.fastify.server.headersTimeout).toBe(1000);
  });

  // Regression: a body over 1 MiB failed the envelope's schema (BAD_REQUEST) before the
  // size check could answer PAYLOAD_TOO_LARGE as documented.
  it('answers notes.put with a body over 1 MiB with PAYLOAD_TOO_LARGE (413)', async () => {
    const owner: Device = await newDevice('Big', server.url);
    const { groupId }: { groupId: GroupId } = await owner.client.createGroup();
    const { noteId } = await owner.client.writeNote(groupId, { title: 'small', body: 'fits' });
    const envelope = await owner.session.api.notes.get.query({ groupId, noteId });
    const big = { ...envelope, version: 2, body: 'A'.repeat(base64urlLength(1024 * 1024 + 29)) };
    const answer = await exchange(
      server.url,
      requestText('POST', '/trpc/notes.put', { headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.session.token}` }, body: JSON.stringify({ envelope: big }) }),
      { timeoutMs: 10_000 },
    );
    expectShape(answer, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('keeps Fastify at the documented path cap and the batch cap', () => {
    const { routerOptions } = server.app.fastify.initialConfig as { routerOptions?: { maxParamLength?: number } };
    expect(routerOptions?.maxParamLength).toBe(MAX_BATCH_PATH_CHARS);
  });
});
