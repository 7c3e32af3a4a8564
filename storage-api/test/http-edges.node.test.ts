/**
 * The storage API's edges over real HTTP (DESIGN §7: "every input validated, body
 * size limits, clear error codes"), on SQLite and PostgreSQL, with plain fetch:
 * malformed and ill-typed input is a 4xx with a Conclave code and never a 5xx; size
 * and rate limits answer 413 and 429; expired, forged and replayed credentials are
 * refused; twenty concurrent writers of one note version produce one winner.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorOf, signIn } from '@conclave/shared/client';
import { ApiCallError } from '@conclave/shared/client';
import { generationKeys } from '@conclave/shared/crypto';
import { currentGeneration } from '@conclave/shared/crypto';
import { generateIdentity, signLabelled } from '@conclave/shared/crypto';
import { LABELS } from '@conclave/shared/crypto';
import { sealNote } from '@conclave/shared/crypto';
import { noteVersionHash } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { health, mutate, query, type RawResponse } from './support/http.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const HOUR = 3600_000;

function expectRefused(response: RawResponse, code: string, status?: number): void {
  expect(response.status, JSON.stringify(response.body)).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  if (status !== undefined) expect(response.status).toBe(status);
  expect(response.conclave?.code, JSON.stringify(response.body)).toBe(code);
}

describe.each(STORE_KINDS)('storage API edges over HTTP (%s)', (kind) => {
  let server: TestServer;
  let owner: Device;
  let groupId: GroupId;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    server = await startServer(kind, { config: { bodyLimit: 64 * 1024, noteMaxBytes: 2048 } });
    servers.push(server);
    owner = await newDevice('Owner', server.url);
    ({ groupId } = await owner.client.createGroup({ policy: 'invite-trust' }));
  });

  afterAll(async () => {
    // Every server this suite started closes, whichever test failed.
    await Promise.allSettled(servers.map((s) => s.close()));
  });

  it('answers malformed JSON, wrong types, unknown fields and a missing groupId with BAD_REQUEST, and keeps serving', async () => {
    const token = owner.session.token;
    const cases: Array<[string, () => Promise<RawResponse>]> = [
      ['malformed JSON (authed)', () => mutate(server.url, 'notes.put', null, { token, rawBody: '{"envelope": {' })],
      ['malformed JSON (anonymous)', () => mutate(server.url, 'auth.login', null, { rawBody: '{not json' })],
      ['a JSON string instead of an object', () => mutate(server.url, 'notes.put', 'hello', { token })],
      ['wrong type of groupId', () => query(server.url, 'notes.list', { groupId: 12345 }, { token })],
      ['wrong type of limit', () => query(server.url, 'notes.list', { groupId, limit: 'many' }, { token })],
      ['wrong type deep inside', () => mutate(server.url, 'groups.append', { groupId, entries: [{ v: 1, seq: 'one' }] }, { token })],
      ['an unknown field', () => query(server.url, 'boxes.mine', { groupId, extra: true }, { token })],
      ['an unknown field in a login', () => mutate(server.url, 'auth.login', { challengeId: 'x', bundle: owner.identity.bundle, sig: 'y', admin: true })],
      ['a missing groupId', () => query(server.url, 'notes.list', {}, { token })],
      ['a missing groupId in a mutation', () => mutate(server.url, 'mailbox.request', {}, { token })],
      ['no input at all', () => query(server.url, 'boxes.mine', undefined, { token })],
    ];
    for (const [what, run] of cases) {
      const response = await run();
      expect(response.status, `${what}: ${JSON.stringify(response.body)}`).toBeLessThan(500);
      expectRefused(response, 'BAD_REQUEST');
      expect(typeof response.message).toBe('string');
    }
    expect((await health(server.url)).body).toMatchObject({ ok: true, store: kind });
  });

  // Regression: tRPC's own METHOD_NOT_SUPPORTED (405) and UNSUPPORTED_MEDIA_TYPE (415)
  // used to fall through to INTERNAL, reporting a client mistake as a server failure.
  it('answers a wrong HTTP method or content type with BAD_REQUEST, not INTERNAL', async () => {
    const token = owner.session.token;
    const responses = [
      await query(server.url, 'notes.put', { envelope: {} }, { token }),
      await mutate(server.url, 'notes.list', { groupId }, { token }),
      await mutate(server.url, 'auth.challenge', null, { rawBody: 'x', contentType: 'text/plain' }),
    ];
    for (const response of responses) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.conclave?.code).toBe('BAD_REQUEST');
    }
  });

  it('answers a body over the limit with 413', async () => {
    const big = JSON.stringify({ envelope: { padding: 'x'.repeat(100 * 1024) } });
    const response = await mutate(server.url, 'notes.put', null, { token: owner.session.token, rawBody: big });
    expect(response.status).toBe(413);
    expect((await health(server.url)).status).toBe(200);
  });

  it('refuses a note over noteMaxBytes with PAYLOAD_TOO_LARGE', async () => {
    await expect(owner.client.writeNote(groupId, { title: 'big', body: 'x'.repeat(4096) })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // Within the limit it goes through.
    await owner.client.writeNote(groupId, { title: 'fits', body: 'x'.repeat(1024) });
  });

  it('lists more notes than one HTTP batch carries (the batch path is capped at 256 characters)', async () => {
    const writer = await newDevice('Lister', server.url);
    await writer.client.join(await owner.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true }));
    const titles = Array.from({ length: 30 }, (_, i) => `note ${String(i).padStart(2, '0')}`);
    for (const title of titles) await writer.client.writeNote(groupId, { title, body: title });
    const { notes, cursor } = await writer.client.listNotes(groupId);
    expect(notes.filter((n) => n.ok).map((n) => (n.ok ? n.title : '')).filter((t) => t.startsWith('note ')).sort()).toEqual(titles);
    // Nothing changed since the cursor: an incremental list is empty.
    expect((await writer.client.listNotes(groupId, { since: cursor })).notes).toEqual([]);
  });

  it('refuses a forged or malformed token with UNAUTHORIZED', async () => {
    for (const token of [randomBytes(32).toString('base64url'), 'not-a-token', `${owner.session.token}x`]) {
      expectRefused(await query(server.url, 'boxes.mine', { groupId }, { token }), 'UNAUTHORIZED', 401);
    }
    expectRefused(await query(server.url, 'boxes.mine', { groupId }), 'UNAUTHORIZED', 401);
  });

  it('refuses a replayed challenge with CHALLENGE_INVALID', async () => {
    const challenge = async () => ((await mutate(server.url, 'auth.challenge', undefined)).body as { result: { data: { challengeId: string; challenge: string } } }).result.data;
    const identity = await generateIdentity();
    const fresh = await challenge();
    const sig = await signLabelled(identity, LABELS.apiChallenge, { challenge: fresh.challenge, fingerprint: identity.fingerprint });
    const login = { challengeId: fresh.challengeId, bundle: identity.bundle, sig };
    const first = await mutate(server.url, 'auth.login', login);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expectRefused(await mutate(server.url, 'auth.login', login), 'CHALLENGE_INVALID', 401);
    // A challenge nobody issued is refused the same way.
    expectRefused(await mutate(server.url, 'auth.login', { ...login, challengeId: randomBytes(16).toString('base64url') }), 'CHALLENGE_INVALID', 401);
    // A signature over another challenge does not open this one.
    const other = await challenge();
    expect((await mutate(server.url, 'auth.login', { ...login, challengeId: other.challengeId })).conclave?.code).toMatch(/^(SIGNATURE_INVALID|CHALLENGE_INVALID)$/);
  });

  it('lets exactly one of 20 concurrent writers store a note version; the rest get CONFLICT with currentVersion', async () => {
    const writers = [owner, ...(await Promise.all([newDevice('W1', server.url), newDevice('W2', server.url)]))];
    for (const w of writers.slice(1)) await w.client.join(await owner.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true }));
    const { noteId } = await owner.client.writeNote(groupId, { title: 'contended', body: 'v1' });
    // Every writer continues version 1 (notes.put checks prev against it).
    const prev = await noteVersionHash(await owner.session.api.notes.get.query({ groupId, noteId, version: 1 }));
    const envelopes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const w = writers[i % writers.length]!;
        const record = (await w.store.load(groupId))!;
        const generation = currentGeneration(record.state);
        const { noteKey } = await generationKeys(record.seeds.get(generation)!, groupId, generation);
        return { w, envelope: await sealNote(w.identity, { groupId, noteId, version: 2, generation }, noteKey, { title: 'contended', body: `writer ${i}` }, { prev }) };
      }),
    );
    const responses = await Promise.all(envelopes.map(({ w, envelope }) => mutate(server.url, 'notes.put', { envelope }, { token: w.session.token })));
    const won = responses.filter((r) => r.status === 200);
    const lost = responses.filter((r) => r.status !== 200);
    expect(won, JSON.stringify(lost.slice(0, 2).map((r) => r.body))).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) {
      expectRefused(r, 'CONFLICT', 409);
      expect(r.conclave?.currentVersion).toBe(2);
    }
    const stored = await owner.client.readNote(groupId, noteId);
    expect(stored.version).toBe(2);
    expect(envelopes[responses.indexOf(won[0]!)]!.envelope.body).toBe((await owner.session.api.notes.get.query({ groupId, noteId })).body);
  });

  it('refuses an expired session with UNAUTHORIZED (server clock moved)', async () => {
    let clock = Date.now();
    const timed = await startServer(kind, { now: () => clock, config: { sessionTtlMs: 60_000 } });
    servers.push(timed);
    const identity = await generateIdentity();
    const session = await signIn(timed.url, identity);
    expect((await query(timed.url, 'groups.mine', undefined, { token: session.token })).status).toBe(200);
    clock += 61_000;
    const expired = await query(timed.url, 'groups.mine', undefined, { token: session.token });
    expectRefused(expired, 'UNAUTHORIZED', 401);
    expect(expired.message).toMatch(/sign in/i);

    // The real client signs in again by itself when the server says its session ended.
    const device = await newDevice('Renewing', timed.url);
    const { groupId: own } = await device.client.createGroup();
    clock += 61_000;
    expectRefused(await query(timed.url, 'groups.mine', undefined, { token: device.session.token }), 'UNAUTHORIZED', 401);
    await device.client.writeNote(own, { title: 'after renewal', body: 'still here' });
    expect((await device.client.listNotes(own)).notes.map((n) => n.ok && n.title)).toEqual(['after renewal']);
  });

  it('answers past the per-IP rate limit with 429 and a clear message', async () => {
    const limited = await startServer(kind, { config: { rateLimitPerMinute: 10 } });
    servers.push(limited);
    const responses: RawResponse[] = [];
    for (let i = 0; i < 15; i++) responses.push(await query(limited.url, 'meta.version', undefined));
    expect(responses.slice(0, 10).every((r) => r.status === 200)).toBe(true);
    const refused = responses.slice(10);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(JSON.stringify(r.body)).toMatch(/too many requests: try again in \d+ s/);
    }
    // Every route counts, /health too; the client reads the answer as TOO_MANY_REQUESTS.
    expect((await health(limited.url)).status).toBe(429);
    const failure = await signIn(limited.url, await generateIdentity()).then(
      () => null,
      (error: unknown) => error,
    );
    expect(apiErrorOf(failure)).toEqual({ code: 'TOO_MANY_REQUESTS' });
    // The client layer turns it into an ApiCallError that says what to do: a device signed
    // in to a second limited server before it spends that server's allowance.
    const second = await startServer(kind, { config: { rateLimitPerMinute: 10 } });
    servers.push(second);
    const device = await newDevice('Limited', second.url);
    while ((await query(second.url, 'meta.version', undefined)).status !== 429);
    const wrapped = await device.client.createGroup().then(
      () => null,
      (error: unknown) => error,
    );
    expect(wrapped).toBeInstanceOf(ApiCallError);
    expect(wrapped).toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringMatching(/try again in \d+ s/) });
  });
});
