/**
 * A WebSocket server for the signaling benchmark, run in its own process
 * (`forkSignaling`) so the load generator (the parent, with thousands of client
 * sockets) and the server under test each get a core, and so the server's memory can
 * be read on its own.
 *
 * Modes:
 * - `signaling`: the real signaling server, `build(loadConfig({}, overrides))` + listen
 *   on 127.0.0.1:0, logging discarded. The parent passes the overrides it prints; with
 *   `redisUrl` among them it is one node of several, reported once Redis is reachable.
 * - `bare`: a plain `ws` server on an http server, no authentication and no limits. It
 *   keeps sockets by the `id` in the query string, sends `{"type":"OPEN"}` on connect
 *   (the same single frame the signaling server answers a registration with) and
 *   relays each frame the way a PeerJS relay must at least: JSON.parse, set `src`,
 *   JSON.stringify `{type, src, dst, payload}`, send to the socket registered as `dst`.
 *
 * The child reports `{ port, wsPath }` over IPC once listening. It answers
 * `{ cmd: 'stats', gc }` with its memory (after a full GC when asked; the child runs
 * with --expose-gc), the number of sockets it holds (signaling: `online()`) and the
 * signaling server's refusal/drop counters; it closes on `{ cmd: 'close' }` or when
 * the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export type SignalingSpec = { mode: 'signaling'; overrides: Record<string, unknown> } | { mode: 'bare' };

export interface ChildStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** CPU time the process has used so far (user + system, every thread), µs. */
  cpuMicros: number;
  /** Sockets held: registered and online (signaling) or connected (bare). */
  held: number;
  /** Signaling only: `SignalingServer.stats`. */
  refused?: number;
  dropped?: { oversize: number; malformed: number; unknownType: number; rateLimited: number };
}

export interface ForkedSignaling {
  port: number;
  wsUrl: string;
  stats(gc?: boolean): Promise<ChildStats>;
  close(): Promise<void>;
}

/** Starts `spec` in a child process and resolves once it listens. */
export function forkSignaling(spec: SignalingSpec): Promise<ForkedSignaling> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let waiting: ((stats: ChildStats) => void) | null = null;
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`signaling bench server (${spec.mode}) exited with ${code} before listening`));
    child.once('exit', onExit);
    child.on('message', (message: { port?: number; wsPath?: string; error?: string; stats?: ChildStats }) => {
      if (message.stats) {
        const w = waiting;
        waiting = null;
        w?.(message.stats);
        return;
      }
      child.off('exit', onExit);
      if (!message.port) {
        reject(new Error(`signaling bench server (${spec.mode}) failed: ${message.error}`));
        return;
      }
      resolve({
        port: message.port,
        wsUrl: `ws://127.0.0.1:${message.port}${message.wsPath}`,
        stats(gc = false) {
          if (waiting) return Promise.reject(new Error('one stats request at a time'));
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('stats: no answer within 10 s')), 10_000);
            waiting = (stats) => {
              clearTimeout(timer);
              res(stats);
            };
            child.send({ cmd: 'stats', gc });
          });
        },
        async close() {
          if (child.exitCode === null && child.connected) child.send({ cmd: 'close' });
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

// --- the child ------------------------------------------------------------------------

interface Running {
  port: number;
  wsPath: string;
  held(): number;
  counters(): Pick<ChildStats, 'refused' | 'dropped'>;
  close(): Promise<void>;
}

async function startSignaling(overrides: Record<string, unknown>): Promise<Running> {
  const { build } = await import('../../signaling-server/src/app.ts');
  const { loadConfig } = await import('../../signaling-server/src/config.ts');
  const signaling = build(loadConfig({}, { port: 0, host: '127.0.0.1', ...overrides }), { log: () => {} });
  await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
  // Several nodes (overrides.redisUrl): registrations are refused until Redis is reachable.
  const deadline = Date.now() + 10_000;
  while (signaling.cluster && !signaling.cluster.up) {
    if (Date.now() > deadline) throw new Error('Redis not reachable within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port: (signaling.server.address() as AddressInfo).port,
    wsPath: signaling.wsPath,
    held: () => signaling.online().length,
    counters: () => ({ refused: signaling.stats.refused, dropped: { ...signaling.stats.dropped } }),
    close: () => signaling.close(),
  };
}

async function startBare(): Promise<Running> {
  const { WebSocketServer } = await import('ws');
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server });
  const byId = new Map<string, import('ws').WebSocket>();
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://bare').searchParams.get('id') ?? '';
    byId.set(id, ws);
    ws.on('error', () => {});
    ws.on('close', () => {
      if (byId.get(id) === ws) byId.delete(id);
    });
    ws.on('message', (data) => {
      let message: { type?: unknown; dst?: unknown; payload?: unknown };
      try {
        message = JSON.parse(data.toString()) as typeof message;
      } catch {
        return;
      }
      const target = typeof message.dst === 'string' ? byId.get(message.dst) : undefined;
      target?.send(JSON.stringify({ type: message.type, src: id, dst: message.dst, payload: message.payload }));
    });
    ws.send(JSON.stringify({ type: 'OPEN' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    wsPath: '/',
    held: () => byId.size,
    counters: () => ({}),
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function child(spec: SignalingSpec): Promise<void> {
  let running: Running;
  try {
    running = spec.mode === 'signaling' ? await startSignaling(spec.overrides) : await startBare();
  } catch (error) {
    process.send?.({ error: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await running.close().catch(() => undefined);
    // peer's timers (expiry, broken-connection checks) outlive close(): exit explicitly.
    process.exit(0);
  };
  process.on('message', (message: { cmd?: string; gc?: boolean }) => {
    if (message.cmd === 'close') void close();
    if (message.cmd === 'stats') {
      if (message.gc) (globalThis as { gc?: () => void }).gc?.();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const stats: ChildStats = { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, cpuMicros: cpu.user + cpu.system, held: running.held(), ...running.counters() };
      process.send?.({ stats });
    }
  });
  process.on('disconnect', () => void close());
  process.send?.({ port: running.port, wsPath: running.wsPath });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child(JSON.parse(process.argv[2]!) as SignalingSpec);
}
