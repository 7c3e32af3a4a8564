/**
 * Signaling nodes as real processes (`signaling-server/src/server.ts`), for the
 * several-node tests: spawned with an environment, on 127.0.0.1 port 0, their ports
 * read from what they print; each keeps its output for the log checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

export interface Node {
  port: number;
  metricsPort: number;
  wsUrl: string;
  httpUrl: string;
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves once its output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Starts one node; resolves once it listens and, with REDIS_URL, once Redis is reachable. */
export async function startNode(env: Record<string, string>, options: { waitForRedis?: boolean } = {}): Promise<Node> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, CONCLAVE_SIGNAL_HOST: '127.0.0.1', CONCLAVE_SIGNAL_PORT: '0', CONCLAVE_SIGNAL_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(text)) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`signaling node did not print ${pattern} within ${timeoutMs} ms; it printed:\n${text}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  await waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/);
  if (env.REDIS_URL && options.waitForRedis !== false) await waitFor(/Redis reachable/);
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)![1]);
  const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(text)![1]);
  const path = env.CONCLAVE_SIGNAL_PATH ?? '/peerjs';
  return {
    port,
    metricsPort,
    wsUrl: `ws://127.0.0.1:${port}${path}/peerjs`,
    httpUrl: `http://127.0.0.1:${port}${path}`,
    process: child,
    output: () => text,
    waitFor,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A unique key prefix for one test file, and a way to delete everything under it. */
export function testPrefix(): { prefix: string; cleanup(redisUrl: string): Promise<void> } {
  const prefix = `conclave-test:signal:${process.pid}:${Math.random().toString(36).slice(2, 10)}:`;
  return {
    prefix,
    async cleanup(redisUrl) {
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}

/**
 * A TCP proxy to Redis that the test can take down and bring back on the same port:
 * what a node sees when Redis goes away; or that keeps the connections and goes silent.
 */
export class RedisProxy {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  #silent = false;
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      // Forwarded chunk by chunk so that silence() can stop it without closing anything.
      client.on('data', (chunk: Buffer) => void (this.#silent || upstream.write(chunk)));
      upstream.on('data', (chunk: Buffer) => void (this.#silent || client.write(chunk)));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /** Keeps every connection open (and accepts new ones) but forwards nothing more, either way: a Redis that hangs. */
  silence(): void {
    this.#silent = true;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
