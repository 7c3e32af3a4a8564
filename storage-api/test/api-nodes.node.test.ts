/**
 * Two real API processes (storage-api/src/server.ts) on one PostgreSQL schema and one
 * Redis, as docs/OPERATIONS.md "Scaling past one machine" runs them:
 * - a group's story through a round-robin balancer, so consecutive calls alternate
 *   between the processes, and calls aimed at one process or the other: a session
 *   signed in on one works on the other; a write on one is read on the other at once; a
 *   member removed on one is refused on the other at once (though it had just served
 *   them); a sign-out or an expiry on one is refused on the other; the same note
 *   version put on both at once is stored once (CONFLICT for the other);
 * - `/metrics` on its own loopback port, never on the API's, with no id, token or
 *   client-chosen name in it;
 * - the per-IP and per-session limits counted once across both processes through Redis
 *   (a limit of 10), a batch costing one per call, in the documented shape with
 *   `retry-after`; and with Redis cut off (or down when a process starts), each process goes on serving and counting on
 *   its own (a warning in its log, `conclave_api_rate_limits_shared 0`) until Redis is
 *   back, then shares again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createTRPCClient, httpLink } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupClient, signIn, type ApiClient } from '@conclave/shared/client';
import { generateIdentity } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { AppRouter } from '../src/routers/index.ts';
import { startApiProcess, type ApiProcess } from './support/api-process.ts';
import { newDevice, type Device } from './support/clients.ts';
import { WebSocket } from 'ws';
import { openLive, until, wsUrl } from './support/live-socket.ts';
import { errorShapeProblem, exchange, requestText, type RawAnswer } from './support/raw-http.ts';
import { Gate, startRoundRobin, type RoundRobin } from './support/round-robin.ts';
import { pgQuery, TEST_DATABASE_URL } from './support/server.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const REDIS_URL = process.env.CONCLAVE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A tRPC client of one process (no batching: one call, one request). */
function apiAt(url: string, token?: string): ApiClient {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${url}/trpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) })] });
}

/** `device` acting through the process at `url`, with a session signed in there. */
async function clientAt(device: Device, url: string): Promise<GroupClient> {
  return new GroupClient({ identity: device.identity, session: await signIn(url, device.identity), store: device.store, baseUrl: url, trustOf: (_g: GroupId, f: Fingerprint) => device.trust.get(f) ?? 'unverified' });
}

/** The Conclave code a call failed with (or 'ok'). */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    const data = (error as { data?: { conclave?: { code?: string } }; code?: unknown }).data?.conclave?.code;
    return data ?? String((error as { code?: unknown }).code);
  }
}

/** The metrics listener a process printed. */
async function metricsUrlOf(process: ApiProcess): Promise<string> {
  return until(() => /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(process.output())?.[1], 'the metrics address');
}

function get(url: string, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<RawAnswer> {
  return exchange(url, requestText('GET', path, { headers }), localAddress ? { localAddress } : {});
}

function expectTooMany(answer: RawAnswer, words: RegExp): void {
  expect(answer.status, answer.text).toBe(429);
  expect(errorShapeProblem(429, answer.body), answer.text).toBeNull();
  expect(answer.text).toMatch(words);
  expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
  expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(60);
}

describe('two API processes on one PostgreSQL and one Redis', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const redisPrefix = `conclave-test:${randomBytes(6).toString('hex')}:`;
  const redis = new Redis(REDIS_URL);
  const processes: ApiProcess[] = [];
  let one: ApiProcess;
  let two: ApiProcess;
  let balancer: RoundRobin;

  const start = async (env: Record<string, string>) => {
    const started = await startApiProcess({ databaseUrl: TEST_DATABASE_URL, schema, env: { REDIS_URL, CONCLAVE_REDIS_PREFIX: redisPrefix, ...env } });
    processes.push(started);
    return started;
  };

  beforeAll(async () => {
    await pgQuery(`CREATE SCHEMA ${schema}`);
    // One after the other: the first migrates the schema.
    one = await start({});
    two = await start({ CONCLAVE_METRICS_PORT: '0' });
    balancer = await startRoundRobin([one.url, two.url]);
  }, 60_000);

  afterAll(async () => {
    await balancer?.close();
    for (const p of processes) await p.kill('SIGTERM');
    await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  describe('a group story whose calls alternate between the processes', () => {
    let admin: Device;
    let bob: Device;
    let groupId: GroupId;

    it('signs in with the challenge from one process and the answer to the other; the session works on both', async () => {
      const before = balancer.served.length;
      admin = await newDevice('Admin', balancer.url);
      bob = await newDevice('Bob', balancer.url);
      // challenge, login, people.publish… alternately on each process.
      const served = balancer.served.slice(before);
      expect(served.slice(0, 4)).toEqual([0, 1, 0, 1]);
      for (const url of [one.url, two.url]) expect(await apiAt(url, admin.session.token).groups.mine.query()).toEqual([]);
    });

    it('writes through the balancer are read on either process at once', async () => {
      const before = balancer.served.length;
      ({ groupId } = await admin.client.createGroup());
      await admin.client.addMember(groupId, bob.fingerprint, 'member');
      await bob.client.openGroup(groupId);
      const { noteId } = await admin.client.writeNote(groupId, { title: 'Across', body: 'written through both' });
      expect(new Set(balancer.served.slice(before))).toEqual(new Set([0, 1]));
      for (const url of [one.url, two.url]) {
        const listed = await apiAt(url, bob.session.token).notes.list.query({ groupId, since: 0, limit: 100 });
        expect(listed.items.map((n) => n.noteId)).toContain(noteId);
      }
      const read = await bob.client.readNote(groupId, noteId);
      expect(read).toMatchObject({ title: 'Across', body: 'written through both' });
    });

    it('the same note version put on both processes at once is stored once: the other writer gets CONFLICT from its process', async () => {
      // Each writer's notes.put is held until the other's has arrived too: both passed their
      // clients' own checks (version 1 is the newest), and the database picks the winner.
      const gate = new Gate((path) => path === '/trpc/notes.put', 2);
      const [toOne, toTwo] = [await startRoundRobin([one.url], gate), await startRoundRobin([two.url], gate)];
      try {
        const adminOnOne = await clientAt(admin, toOne.url);
        const bobOnTwo = await clientAt(bob, toTwo.url);
        for (let round = 0; round < 3; round++) {
          const { noteId } = await admin.client.writeNote(groupId, { title: `Contested ${round}`, body: '' });
          await bobOnTwo.readNote(groupId, noteId);
          const puts = () => toOne.paths.filter((p) => p === '/trpc/notes.put').length + toTwo.paths.filter((p) => p === '/trpc/notes.put').length;
          const before = puts();
          const results = await Promise.all([
            outcome(adminOnOne.writeNote(groupId, { title: 'admin', body: '' }, { noteId, version: 2 })),
            outcome(bobOnTwo.writeNote(groupId, { title: 'bob', body: '' }, { noteId, version: 2 })),
          ]);
          expect(puts() - before).toBe(2);
          expect(results.sort()).toEqual(['CONFLICT', 'ok']);
          // Version 2 is the one that won, on both processes; there is no third.
          for (const url of [one.url, two.url]) expect((await apiAt(url, admin.session.token).notes.get.query({ groupId, noteId })).version).toBe(2);
        }
      } finally {
        await toOne.close();
        await toTwo.close();
      }
    });

    it('a member removed on process 2 is refused on process 1 at once, though process 1 had just served them', async () => {
      const carol = await newDevice('Carol', balancer.url);
      const adminOnOne = await clientAt(admin, one.url);
      const adminOnTwo = await clientAt(admin, two.url);
      // Added on 1: a member on 2 at once.
      await adminOnOne.addMember(groupId, carol.fingerprint, 'member');
      const carolOnOne = apiAt(one.url, carol.session.token);
      const carolOnTwo = apiAt(two.url, carol.session.token);
      await carolOnTwo.notes.list.query({ groupId, since: 0, limit: 10 });
      // Process 1 serves Carol (its cached group state has her as a member)…
      await carolOnOne.notes.list.query({ groupId, since: 0, limit: 10 });
      // …removed on 2…
      await adminOnTwo.removeMember(groupId, carol.fingerprint);
      // …and refused by 1 on the very next call.
      expect(await outcome(carolOnOne.notes.list.query({ groupId, since: 0, limit: 10 }))).toBe('FORBIDDEN');
      expect(await outcome(carolOnTwo.notes.list.query({ groupId, since: 0, limit: 10 }))).toBe('FORBIDDEN');
    });

    it('signed out on process 1, refused on process 2 at once; a session past its expiry is refused on both', async () => {
      const dave = await newDevice('Dave', balancer.url);
      const daveOnOne = apiAt(one.url, dave.session.token);
      const daveOnTwo = apiAt(two.url, dave.session.token);
      await daveOnTwo.groups.mine.query();
      await daveOnOne.auth.logout.mutate();
      expect(await outcome(daveOnTwo.groups.mine.query())).toBe('UNAUTHORIZED');
      expect(await outcome(daveOnOne.groups.mine.query())).toBe('UNAUTHORIZED');

      // Bob's session reaches its expiry (moved, in the database, to a moment ago).
      const bobOnOne = apiAt(one.url, bob.session.token);
      const bobOnTwo = apiAt(two.url, bob.session.token);
      await bobOnOne.groups.mine.query();
      await bobOnTwo.groups.mine.query();
      const tokenHash = createHash('sha256').update(bob.session.token).digest('hex');
      const moved = await pgQuery(`UPDATE ${schema}.sessions SET expires_at = $1 WHERE token_hash = $2`, [Date.now() - 1, tokenHash]);
      expect(moved.rowCount).toBe(1);
      expect(await outcome(bobOnOne.groups.mine.query())).toBe('UNAUTHORIZED');
      expect(await outcome(bobOnTwo.groups.mine.query())).toBe('UNAUTHORIZED');
    });

    it('/metrics: on its own loopback listener (not the API port), by procedure and status, without ids, tokens or names a client chose', async () => {
      const url = await metricsUrlOf(two);
      expect(new URL(url).port).not.toBe(String(two.port));
      // One open stream on this process, one on the other.
      const streams = [await openLive(two.url, admin.session.token), await openLive(one.url, admin.session.token)];
      await streams[0]!.waitEvent((e) => e.type === 'heads', 'heads');
      const withStream = await (await fetch(url)).text();
      expect(withStream).toMatch(/^conclave_api_live_streams 1$/m);
      expect(withStream).toMatch(/^conclave_api_websockets_open 1$/m);
      for (const stream of streams) await stream.close();
      await until(async () => (/^conclave_api_websockets_open 0$/m.test(await (await fetch(url)).text()) ? true : undefined), 'the socket closed');
      // A procedure the router does not have is counted as `unknown`, never by its name.
      const made = `secret${randomBytes(4).toString('hex')}`;
      expect((await fetch(`${two.url}/trpc/${made}`)).status).toBe(404);
      const text = await (await fetch(url)).text();
      expect(text).toMatch(/^conclave_api_requests_total\{procedure="notes\.list",status="200"\} [1-9]/m);
      expect(text).toMatch(/^conclave_api_requests_total\{procedure="unknown",status="404"\} 1$/m);
      expect(text).toMatch(/^conclave_api_request_duration_seconds_bucket\{le="0\.005",procedure="notes\.list"\} \d+/m);
      expect(text).toMatch(/^conclave_api_live_streams 0$/m);
      expect(text).toMatch(/^conclave_api_websockets_open 0$/m);
      expect(text).toMatch(/^conclave_api_rate_limits_shared 1$/m);
      expect(text).toMatch(/^conclave_api_rate_limited_total\{limit="ip"\} 0$/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
      const secrets = [made, groupId, admin.session.token, bob.session.token, admin.fingerprint, bob.fingerprint, createHash('sha256').update(admin.session.token).digest('hex'), '127.0.0.1'];
      for (const secret of secrets) expect(text).not.toContain(secret);
      // The API's own port has no /metrics.
      const onApi = await get(two.url, '/metrics');
      expect(onApi.status).toBe(404);
      expect(errorShapeProblem(404, onApi.body)).toBeNull();
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
      expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    });
  });

  describe('rate limits shared through Redis (10 a minute), and Redis cut off', () => {
    let proxy: TcpProxy;
    let limitedOne: ApiProcess;
    let limitedTwo: ApiProcess;
    const sharedPrefix = `conclave-test:${randomBytes(6).toString('hex')}:`;

    beforeAll(async () => {
      const target = new URL(REDIS_URL);
      proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
      const env = { REDIS_URL: proxy.url('redis'), CONCLAVE_REDIS_PREFIX: sharedPrefix, CONCLAVE_RATE_LIMIT_PER_MINUTE: '10', CONCLAVE_METRICS_PORT: '0' };
      limitedOne = await start(env);
      limitedTwo = await start(env);
    }, 60_000);

    afterAll(async () => {
      await proxy?.close();
      const keys = await redis.keys(`${sharedPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    });

    it('per session: 10 calls spread over both processes (each from its own address), the 11th refused on either', async () => {
      const session = await signIn(limitedOne.url, await generateIdentity());
      const auth = { authorization: `Bearer ${session.token}` };
      for (let i = 0; i < 10; i++) {
        const answer = await get([limitedOne, limitedTwo][i % 2]!.url, '/trpc/groups.mine', auth, `127.0.1.${i + 1}`);
        expect(answer.status, answer.text).toBe(200);
      }
      for (const p of [limitedOne, limitedTwo]) {
        const refused = await get(p.url, '/trpc/groups.mine', auth, '127.0.1.50');
        expect(refused.status).toBe(429);
        expect(errorShapeProblem(429, refused.body)).toBeNull();
        expect(refused.text).toMatch(/too many requests in this session: try again in \d+ s/);
        expect(await (await fetch(await metricsUrlOf(p))).text()).toMatch(/^conclave_api_rate_limited_total\{limit="session"\} 1$/m);
      }
    });

    it('per IP: 10 requests over both processes, the 11th refused on either with retry-after; a batch costs one per call', async () => {
      for (let i = 0; i < 10; i++) expect((await get([limitedOne, limitedTwo][i % 2]!.url, '/health', {}, '127.0.2.1')).status).toBe(200);
      for (const p of [limitedOne, limitedTwo]) expectTooMany(await get(p.url, '/trpc/meta.version', {}, '127.0.2.1'), /too many requests: try again in \d+ s/);
      // 6 calls in a batch on one process, then 5 on the other: 11 from one address.
      const batch = (n: number) => `/trpc/${Array(n).fill('meta.version').join(',')}?batch=1`;
      expect((await get(limitedOne.url, batch(6), {}, '127.0.2.2')).status).toBe(200);
      expectTooMany(await get(limitedTwo.url, batch(5), {}, '127.0.2.2'), /too many requests: try again in \d+ s/);
      expect((await get(limitedTwo.url, batch(4), {}, '127.0.2.3')).status).toBe(200);
      const text = await (await fetch(await metricsUrlOf(limitedTwo))).text();
      expect(text).toMatch(/^conclave_api_rate_limited_total\{limit="ip"\} [1-9]/m);
      expect(text).toMatch(/^conclave_api_requests_total\{procedure="batch",status="429"\} 1$/m);
    });

    it('a WebSocket on one process counts against the address\'s shared count: its upgrade and messages are over after 9 requests on the other', async () => {
      for (let i = 0; i < 9; i++) expect((await get(limitedTwo.url, '/health', {}, '127.0.4.1')).status).toBe(200);
      // The upgrade is the 10th: accepted; its first message is the 11th: the socket is closed (1008).
      const socket = new WebSocket(wsUrl(limitedOne.url), { localAddress: '127.0.4.1' });
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      socket.send(JSON.stringify({ method: 'connectionParams', data: {} }));
      expect(await closed).toBe(1008);
    });

    it('a process whose Redis is down when it starts: it starts, serves, and counts alone (a warning, shared 0)', async () => {
      const closed = await startTcpProxy('127.0.0.1', 1);
      await closed.cut();
      const alone = await start({ REDIS_URL: closed.url('redis'), CONCLAVE_REDIS_PREFIX: sharedPrefix, CONCLAVE_RATE_LIMIT_PER_MINUTE: '10', CONCLAVE_METRICS_PORT: '0' });
      for (let i = 0; i < 10; i++) expect((await get(alone.url, '/health', {}, '127.0.5.1')).status).toBe(200);
      expectTooMany(await get(alone.url, '/health', {}, '127.0.5.1'), /too many requests: try again in \d+ s/);
      // The warning travels through the process's stdout pipe: wait for it rather than race it.
      await until(() => (alone.output().includes('the shared rate limits (Redis) cannot be reached') ? true : undefined), 'the warning');
      expect(await (await fetch(await metricsUrlOf(alone))).text()).toMatch(/^conclave_api_rate_limits_shared 0$/m);
      await alone.kill('SIGTERM');
    });

    it('Redis cut off: both go on serving, each counting alone (a warning, shared 0); Redis back: counted together again', async () => {
      await proxy.cut();
      // Each process allows its own 10 from one address: 20 in all, where Redis would allow 10.
      for (const p of [limitedOne, limitedTwo]) {
        for (let i = 0; i < 10; i++) expect((await get(p.url, '/health', {}, '127.0.3.1')).status).toBe(200);
        expectTooMany(await get(p.url, '/health', {}, '127.0.3.1'), /too many requests: try again in \d+ s/);
      }
      for (const p of [limitedOne, limitedTwo]) {
        await until(() => (p.output().includes('the shared rate limits (Redis) cannot be reached') ? true : undefined), 'the warning');
        expect(p.output()).not.toMatch(/"level":50|FATAL|Error:/);
        expect(await (await fetch(await metricsUrlOf(p))).text()).toMatch(/^conclave_api_rate_limits_shared 0$/m);
      }

      await proxy.restore();
      // Redis is asked again once reconnected (ioredis retries within 2 s).
      for (const p of [limitedOne, limitedTwo]) {
        await until(async () => {
          await get(p.url, '/health', {}, '127.0.3.2');
          return /^conclave_api_rate_limits_shared 1$/m.test(await (await fetch(await metricsUrlOf(p))).text()) ? true : undefined;
        }, 'Redis shared again', 15_000);
      }
      for (let i = 0; i < 10; i++) expect((await get([limitedOne, limitedTwo][i % 2]!.url, '/health', {}, '127.0.3.3')).status).toBe(200);
      expectTooMany(await get(limitedOne.url, '/health', {}, '127.0.3.3'), /too many requests: try again in \d+ s/);
    }, 40_000);
  });
});
