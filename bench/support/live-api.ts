/**
 * The real storage API in a child process for the live-event benchmarks, with any
 * configuration the bench needs (the live stream limits raised, the per-IP rate limit
 * out of the way: every bench client is on 127.0.0.1). Its own process so that the
 * clients in the parent do not share its event loop, and so that its memory can be read
 * alone: `/proc/<pid>/status` (VmRSS, what the kernel holds for it) and, on request,
 * `process.memoryUsage()` after a full GC (the child runs with --expose-gc).
 *
 * On SQLite (a data directory) or PostgreSQL (a URL and schema; several children on one
 * schema are several API processes on one database). Logs are discarded. The child
 * reports `{ url }` over IPC once listening and closes on `'close'` or when the parent
 * goes away, so it never outlives the bench. BENCH_CPU_PROF=<dir> writes a V8 CPU profile
 * of each API process there (where its time goes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../storage-api/src/config.ts';

export interface LiveApiSpec {
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  /** Config overrides (`loadConfig({}, …)`). */
  config?: Partial<Config>;
}

export interface HeapReading {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface LiveApi {
  url: string;
  pid: number;
  /** VmRSS of the child in bytes, from /proc. */
  rss(): number;
  /** The child's `process.memoryUsage()` after `gc()`. */
  heap(): Promise<HeapReading>;
  close(): Promise<void>;
}

/** Config every live bench wants: rate limits out of the way for one IP and one session. */
export const RAISED_LIMITS = { rateLimitPerMinute: 1_000_000_000, logLevel: 'warn' } as const;

export function vmRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/** Starts the API in a child process and resolves once it listens. */
export function startLiveApi(spec: LiveApiSpec): Promise<LiveApi> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let heapWaiter: ((reading: HeapReading) => void) | null = null;
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`live bench API exited with ${code} before listening`));
    child.once('exit', onExit);
    child.on('message', (message: { url?: string; error?: string; heap?: HeapReading }) => {
      if (message.heap) {
        heapWaiter?.(message.heap);
        heapWaiter = null;
        return;
      }
      child.off('exit', onExit);
      if (!message.url) {
        reject(new Error(`live bench API failed: ${message.error}`));
        return;
      }
      resolve({
        url: message.url,
        pid: child.pid!,
        rss: () => vmRss(child.pid!),
        heap: () =>
          new Promise<HeapReading>((done) => {
            heapWaiter = done;
            child.send('heap');
          }),
        async close() {
          if (child.exitCode === null && child.connected) child.send('close');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

// --- the child ------------------------------------------------------------------------

async function child(spec: LiveApiSpec): Promise<void> {
  let close: () => Promise<void>;
  try {
    const { build } = await import('../../storage-api/src/app.ts');
    const { loadConfig } = await import('../../storage-api/src/config.ts');
    const config = loadConfig(
      {},
      {
        host: '127.0.0.1',
        port: 0,
        ...RAISED_LIMITS,
        ...(spec.dataDir ? { dataDir: spec.dataDir } : {}),
        ...(spec.databaseUrl ? { databaseUrl: spec.databaseUrl, databaseSchema: spec.databaseSchema ?? 'public' } : {}),
        ...(spec.config ?? {}),
      },
    );
    const app = await build(config, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    const url = await app.fastify.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
    process.send?.({ url });
  } catch (error) {
    process.send?.({ error: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    // A server holding thousands of sockets may take a while to close them: never hang.
    setTimeout(() => process.exit(0), 8000).unref();
    await close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message) => {
    if (message === 'close') void stop();
    if (message === 'heap') {
      (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      process.send?.({ heap: { rss, heapUsed, external, arrayBuffers } });
    }
  });
  process.on('disconnect', () => void stop());
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child(JSON.parse(process.argv[2]!) as LiveApiSpec);
}
