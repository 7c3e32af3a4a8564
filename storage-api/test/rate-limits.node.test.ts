/**
 * The rate limits' two implementations (services/rate-limits.ts) against a real Redis
 * (127.0.0.1:6379, or CONCLAVE_TEST_REDIS_URL), each test under its own key prefix,
 * deleted afterwards: in memory without REDIS_URL; one count per key shared by every
 * app on one Redis and prefix; and a Redis that is down at start, drops mid-way or
 * never answers, which never fails or stalls a request (counted in memory meanwhile,
 * reported once per outage, back in Redis once it answers).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRateLimits, type RateLimits } from '../src/services/rate-limits.ts';
import { until } from './support/live-socket.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const REDIS_URL = process.env.CONCLAVE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MINUTE = 60_000;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rate limits in memory and in Redis', () => {
  const admin = new Redis(REDIS_URL);
  const prefixes: string[] = [];
  const open: RateLimits[] = [];
  const proxies: TcpProxy[] = [];
  const servers: net.Server[] = [];

  const prefix = () => {
    const p = `conclave-test:${randomBytes(6).toString('hex')}:`;
    prefixes.push(p);
    return p;
  };
  const limits = async (options: Parameters<typeof createRateLimits>[0]) => {
    const made = await createRateLimits(options);
    open.push(made);
    return made;
  };

  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    for (const p of proxies.splice(0)) await p.close();
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  });

  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await admin.keys(`${p}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    await admin.quit();
  });

  it('without REDIS_URL: counted in this process, a fixed minute per key, on the app clock', async () => {
    const memory = await limits({ limit: 3, redisPrefix: prefix() });
    expect(memory.shared).toBe(false);
    const t = 1_000_000;
    expect(await memory.ip.hit('10.0.0.1', t, 2)).toBe(0);
    expect(await memory.ip.hit('10.0.0.1', t + 1000)).toBe(0);
    expect(await memory.ip.hit('10.0.0.1', t + 2000)).toBe(MINUTE - 2000);
    expect(await memory.ip.hit('10.0.0.2', t + 2000)).toBe(0);
    expect(await memory.session.hit('10.0.0.1', t + 2000)).toBe(0);
    expect(await memory.ip.hit('10.0.0.1', t + MINUTE)).toBe(0);
  });

  it('two apps on one Redis and prefix share one count per key; a cost of n counts n; the limits and prefixes are apart', async () => {
    const shared = prefix();
    const refused: string[] = [];
    const one = await limits({ limit: 5, redisUrl: REDIS_URL, redisPrefix: shared, events: { refused: (l) => refused.push(l) } });
    const two = await limits({ limit: 5, redisUrl: REDIS_URL, redisPrefix: shared });
    expect(one.shared).toBe(true);
    // The app clock plays no part in Redis (its own clock ends the window).
    expect(await one.ip.hit('10.0.0.1', 0, 3)).toBe(0);
    expect(await two.ip.hit('10.0.0.1', 0, 2)).toBe(0);
    const wait = await one.ip.hit('10.0.0.1', 0);
    expect(wait).toBeGreaterThan(MINUTE - 5000);
    expect(wait).toBeLessThanOrEqual(MINUTE);
    expect(refused).toEqual(['ip']);
    expect(Number(await admin.get(`${shared}rl:ip:10.0.0.1`))).toBe(6);
    expect(await admin.pttl(`${shared}rl:ip:10.0.0.1`)).toBeGreaterThan(MINUTE - 5000);
    // The session limit keeps its own counts; another deployment's prefix its own.
    expect(await two.session.hit('10.0.0.1', 0, 5)).toBe(0);
    const other = await limits({ limit: 5, redisUrl: REDIS_URL, redisPrefix: prefix() });
    expect(await other.ip.hit('10.0.0.1', 0, 5)).toBe(0);
  });

  it('a cost of n (a batch of n calls) is one Redis command, not n', async () => {
    const mine = prefix();
    const limited = await limits({ limit: 50, redisUrl: REDIS_URL, redisPrefix: mine });
    // Warm up (the script is loaded once per connection), then watch this prefix's commands.
    await limited.ip.hit('warm', 0);
    const monitor = await admin.duplicate().monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.startsWith(`${mine}rl:ip:10.0.0.9`))) seen.push(args);
    });
    try {
      expect(await limited.ip.hit('10.0.0.9', 0, 17)).toBe(0);
      // MONITOR reports after the command ran; the marker comes after ours on the server.
      await admin.get(`${mine}rl:ip:10.0.0.9:marker`);
      await until(() => (seen.some((args) => args.includes(`${mine}rl:ip:10.0.0.9:marker`)) ? true : undefined), 'the marker in MONITOR');
    } finally {
      monitor.disconnect();
    }
    // MONITOR also lists the commands a script runs; the calls from this process are the scripts.
    expect(seen.filter((args) => /^eval/i.test(args[0]!))).toHaveLength(1);
    expect(Number(await admin.get(`${mine}rl:ip:10.0.0.9`))).toBe(17);
    expect(await admin.pttl(`${mine}rl:ip:10.0.0.9`)).toBeGreaterThan(MINUTE - 5000);
    // Past the limit: refused with the window's remaining time.
    expect(await limited.ip.hit('10.0.0.9', 0, 40)).toBeGreaterThan(MINUTE - 5000);
  });

  it('a Redis down at start: the app starts, counts in memory and reports the outage once', async () => {
    const states: boolean[] = [];
    // Resolving at all while Redis stays down is the check: a client that waited for Redis would time the test out.
    const down = await limits({ limit: 3, redisUrl: `redis://127.0.0.1:${await closedPort()}`, redisPrefix: prefix(), events: { sharedState: (up) => states.push(up) } });
    const t = 5_000_000;
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await down.ip.hit('10.0.0.1', t));
    expect(answers.map((w) => w > 0)).toEqual([false, false, false, true, true]);
    expect(states).toEqual([false]);
  });

  it('Redis drops mid-way: counted in memory meanwhile without waiting, and in Redis again once it answers', async () => {
    const url = new URL(REDIS_URL);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 6379));
    proxies.push(proxy);
    const states: boolean[] = [];
    const p = prefix();
    const limited = await limits({ limit: 100, redisUrl: proxy.url('redis'), redisPrefix: p, events: { sharedState: (up) => states.push(up) } });
    expect(await limited.ip.hit('10.0.0.1', 0, 2)).toBe(0);
    expect(Number(await admin.get(`${p}rl:ip:10.0.0.1`))).toBe(2);

    await proxy.cut();
    // Answered while Redis is still cut off: nothing waits for it to come back (the default ioredis queue would).
    for (let i = 0; i < 5; i++) expect(await limited.ip.hit('10.0.0.1', 0)).toBe(0);
    expect(states).toEqual([false]);
    expect(Number(await admin.get(`${p}rl:ip:10.0.0.1`))).toBe(2);

    await proxy.restore();
    await until(async () => {
      await limited.ip.hit('10.0.0.1', 0);
      return states.length === 2 ? true : undefined;
    }, 'Redis answering again', 10_000);
    expect(states).toEqual([false, true]);
    expect(Number(await admin.get(`${p}rl:ip:10.0.0.1`))).toBeGreaterThanOrEqual(3);
  });

  it('a Redis that takes connections but never answers: every hit is answered, counted in memory', async () => {
    const accepted: net.Socket[] = [];
    const silent = net.createServer((socket) => accepted.push(socket));
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const stuck = await limits({ limit: 2, redisUrl: `redis://127.0.0.1:${port}`, redisPrefix: prefix() });
    // Every hit is answered although Redis never answers (without a command timeout and a ready check, each would wait for ever).
    for (const cost of [1, 1, 1]) await stuck.ip.hit('10.0.0.1', 0, cost);
    expect(await stuck.ip.hit('10.0.0.1', 0)).toBeGreaterThan(0);
    for (const socket of accepted) socket.destroy();
  });
});
