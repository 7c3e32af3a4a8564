/**
 * The real storage API in a child process that counts what it receives: every HTTP
 * request and every tRPC call inside it (the SDK's `httpBatchLink` may carry several
 * calls in one request: `/trpc/a,b?batch=1`), by procedure. For the benchmarks that
 * ask "how many requests does this cost" (bench/background-save.bench.ts,
 * bench/extension-notes.bench.ts).
 *
 * The server is `build(config)` + `listen(127.0.0.1:0)` on SQLite in `dataDir`, logs
 * discarded, the per-IP and per-session rate limits raised out of the way. It runs in
 * its own process so a client in the parent (the SDK, a bare tRPC client) does not
 * share an event loop with it — the extension's background never does either.
 *
 * Counting is an `onRequest` hook added after the app's own (so a request the app
 * refuses before routing is not counted as a call; none is, with the limits raised),
 * and an `onResponse` hook that counts answers of 400 and above. `counts()` returns the
 * totals since the start, for all requests and split by client — `browser` (a user agent
 * naming Chrome or Mozilla: the extension) and `node` (anything else: the SDK's fetch) —
 * so a phase measuring one client is not charged for the other's background work (the
 * extension's per-minute tick keeps running while Node measures). Take the difference of
 * two readings to count one phase.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface Counts {
  /** HTTP requests under /trpc/. */
  requests: number;
  /** tRPC calls: a batch of n counts n. */
  calls: number;
  /** Answers with status 400 or more. */
  failed: number;
  /** Calls by procedure name (`notes.put`, `groups.log`…). */
  byProcedure: Record<string, number>;
  /** Requests by the procedures they carried, batches joined with "+" (`groups.log+notes.get`). */
  byRequest: Record<string, number>;
}

export type Client = 'browser' | 'node';
export type CountsByClient = Record<'all' | Client, Counts>;

export interface CountedApi {
  url: string;
  counts(): Promise<CountsByClient>;
  close(): Promise<void>;
}

/** How long one run took and what the storage API received from one client meanwhile. */
export interface Measured {
  ms: number;
  counts: Counts;
}

/** Runs `run` (which returns its own time in ms) and counts what `client` sent the API meanwhile. */
export async function measured(api: CountedApi, client: Client, run: () => Promise<number>): Promise<Measured> {
  const before = await api.counts();
  const ms = await run();
  return { ms, counts: countsBetween(before[client], (await api.counts())[client]) };
}

/** `after` − `before`, procedure by procedure (zeros left out). */
export function countsBetween(before: Counts, after: Counts): Counts {
  const diff = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.keys(b)
        .map((k) => [k, b[k]! - (a[k] ?? 0)] as const)
        .filter(([, n]) => n !== 0),
    );
  return {
    requests: after.requests - before.requests,
    calls: after.calls - before.calls,
    failed: after.failed - before.failed,
    byProcedure: diff(before.byProcedure, after.byProcedure),
    byRequest: diff(before.byRequest, after.byRequest),
  };
}

/** "groups.log ×3, notes.put ×1" for `per` operations (counts divided by `per`). */
export function describeCounts(counts: Record<string, number>, per = 1): string {
  const entries = Object.entries(counts).sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  if (entries.length === 0) return '—';
  return entries
    .map(([name, n]) => {
      const each = n / per;
      if (Number.isInteger(each)) return `${name} ×${each}`;
      return each >= 0.01 ? `${name} ×${each.toFixed(3)}` : `${name} ×${each.toPrecision(1)} (${n} in all)`;
    })
    .join(', ');
}

/** Starts the API in a child process; resolves once it listens. */
export function forkCountedApi(dataDir: string): Promise<CountedApi> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [dataDir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let asked = 0;
  const waiting = new Map<number, (counts: CountsByClient) => void>();
  child.on('message', (message: { id?: number; counts?: CountsByClient }) => {
    if (message.id !== undefined && message.counts) {
      waiting.get(message.id)?.(message.counts);
      waiting.delete(message.id);
    }
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`counted API exited with ${code} before listening`));
    child.once('exit', onExit);
    const onReady = (message: { url?: string; error?: string }) => {
      if (message.url === undefined && message.error === undefined) return;
      child.off('message', onReady);
      child.off('exit', onExit);
      if (!message.url) {
        reject(new Error(`counted API failed: ${message.error}`));
        return;
      }
      resolve({
        url: message.url,
        counts() {
          const id = ++asked;
          return new Promise<CountsByClient>((answer, fail) => {
            if (!child.connected) return fail(new Error('the counted API is gone'));
            waiting.set(id, answer);
            child.send({ counts: id });
          });
        },
        async close() {
          if (child.exitCode === null && child.connected) child.send('close');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        },
      });
    };
    child.on('message', onReady);
  });
}

// --- the child ------------------------------------------------------------------------

async function child(dataDir: string): Promise<void> {
  const { build } = await import('../../storage-api/src/app.ts');
  const { loadConfig } = await import('../../storage-api/src/config.ts');
  const config = loadConfig({}, { host: '127.0.0.1', port: 0, dataDir, logLevel: 'warn', rateLimitPerMinute: 1_000_000_000 });
  const app = await build(config, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const empty = (): Counts => ({ requests: 0, calls: 0, failed: 0, byProcedure: {}, byRequest: {} });
  const counts: CountsByClient = { all: empty(), browser: empty(), node: empty() };
  const clientOf = (userAgent: string | undefined): Client => (/Chrome|Mozilla/.test(userAgent ?? '') ? 'browser' : 'node');
  app.fastify.addHook('onRequest', async (request) => {
    const [path, query = ''] = request.url.split('?', 2) as [string, string?];
    if (!path.startsWith('/trpc/')) return;
    const batched = new URLSearchParams(query).get('batch') === '1';
    const names = batched ? path.slice('/trpc/'.length).split(',') : [path.slice('/trpc/'.length)];
    const key = names.join('+');
    for (const c of [counts.all, counts[clientOf(request.headers['user-agent'])]]) {
      c.requests++;
      c.calls += names.length;
      for (const name of names) c.byProcedure[name] = (c.byProcedure[name] ?? 0) + 1;
      c.byRequest[key] = (c.byRequest[key] ?? 0) + 1;
    }
  });
  app.fastify.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode < 400) return;
    counts.all.failed++;
    counts[clientOf(request.headers['user-agent'])].failed++;
  });
  let url: string;
  try {
    url = await app.fastify.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    process.send?.({ error: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await app.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message: 'close' | { counts: number }) => {
    if (message === 'close') void close();
    else if (typeof message === 'object' && typeof message.counts === 'number') process.send?.({ id: message.counts, counts });
  });
  process.on('disconnect', () => void close());
  process.send?.({ url });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child(process.argv[2]!);
}
