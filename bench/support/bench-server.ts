/**
 * A server for the HTTP benchmarks, run in its own process (`forkServer`) so the load
 * generator (autocannon, in the parent) and the server under test each get a core of
 * their own instead of sharing one event loop.
 *
 * Modes:
 * - `api`: the real storage API, `build(config)` + `listen(127.0.0.1:0)`, on SQLite (a
 *   data directory) or PostgreSQL (a URL and schema); logging at `info` into a stream
 *   that discards it, and the per-IP rate limit raised out of the way (one load
 *   generator on one IP would otherwise be throttled at `rateLimitPerMinute`).
 * - `bare-sqlite`: a bare Fastify app with `POST /bare/notes` (parse the same JSON body,
 *   insert the envelope's base64 body into a better-sqlite3 table in WAL mode with
 *   `synchronous = FULL`, like the real store) and `GET /bare/notes/:id` (select one row).
 * - `bare-pg`: the same two routes over a `pg` Pool of the same size as the real store's.
 *
 * The child reports `{ url }` over IPC once listening, answers `'cpu'` with its CPU time
 * so far (`{ cpu }`, µs), and closes on the message `'close'` or when the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export type ServerSpec =
  | { mode: 'api'; dataDir?: string; databaseUrl?: string; databaseSchema?: string }
  | { mode: 'bare-sqlite'; dataDir: string }
  | { mode: 'bare-pg'; databaseUrl: string; databaseSchema: string };

export interface ForkedServer {
  url: string;
  /** CPU time the server process has used so far (user + system, all its threads), in µs. */
  cpuMicros(): Promise<number>;
  close(): Promise<void>;
}

/** The real store's pool size (storage-api/src/store/postgres.ts). */
const PG_POOL_MAX = 10;

/** Starts `spec` in a child process and resolves once it listens. */
export function forkServer(spec: ServerSpec): Promise<ForkedServer> {
  // BENCH_CPU_PROF=<dir>: the API child writes a V8 CPU profile there when it exits (node --cpu-prof).
  const profile = spec.mode === 'api' && process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench server (${spec.mode}) exited with ${code} before listening`));
    child.once('exit', onExit);
    child.once('message', (message: { url?: string; error?: string }) => {
      child.off('exit', onExit);
      if (!message.url) {
        reject(new Error(`bench server (${spec.mode}) failed: ${message.error}`));
        return;
      }
      resolve({
        url: message.url,
        cpuMicros: () =>
          new Promise<number>((answer) => {
            const onCpu = (reply: { cpu?: number }) => {
              if (typeof reply.cpu !== 'number') return;
              child.off('message', onCpu);
              answer(reply.cpu);
            };
            child.on('message', onCpu);
            child.send('cpu');
          }),
        async close() {
          if (child.exitCode === null && child.connected) child.send('close');
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
  url: string;
  close(): Promise<void>;
}

async function startApi(spec: Extract<ServerSpec, { mode: 'api' }>): Promise<Running> {
  const { build } = await import('../../storage-api/src/app.ts');
  const { loadConfig } = await import('../../storage-api/src/config.ts');
  const config = loadConfig(
    {},
    {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'info',
      rateLimitPerMinute: 1_000_000_000,
      ...(spec.dataDir ? { dataDir: spec.dataDir } : {}),
      ...(spec.databaseUrl ? { databaseUrl: spec.databaseUrl, databaseSchema: spec.databaseSchema ?? 'public' } : {}),
    },
  );
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const app = await build(config, { logStream: discard });
  const url = await app.fastify.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

interface BareBody {
  envelope?: { noteId?: unknown; body?: unknown };
}

async function startBareSqlite(spec: Extract<ServerSpec, { mode: 'bare-sqlite' }>): Promise<Running> {
  const { default: Fastify } = await import('fastify');
  const { default: Database } = await import('better-sqlite3');
  mkdirSync(spec.dataDir, { recursive: true });
  const db = new Database(join(spec.dataDir, 'bare.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, note_id TEXT NOT NULL, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO notes (note_id, body) VALUES (?, ?)');
  const select = db.prepare('SELECT id, note_id, body FROM notes WHERE id = ?');
  const fastify = Fastify({ bodyLimit: 4 * 1024 * 1024 });
  fastify.post('/bare/notes', async (request, reply) => {
    const envelope = (request.body as BareBody | null)?.envelope;
    if (typeof envelope?.noteId !== 'string' || typeof envelope.body !== 'string') return reply.code(400).send({ error: 'bad body' });
    const { lastInsertRowid } = insert.run(envelope.noteId, envelope.body);
    return { id: Number(lastInsertRowid) };
  });
  fastify.get('/bare/notes/:id', async (request, reply) => {
    const row = select.get(Number((request.params as { id: string }).id));
    return row ?? reply.code(404).send({ error: 'not found' });
  });
  const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await fastify.close();
      db.close();
    },
  };
}

async function startBarePg(spec: Extract<ServerSpec, { mode: 'bare-pg' }>): Promise<Running> {
  const { default: Fastify } = await import('fastify');
  const { default: pg } = await import('pg');
  const { withDefaultUser } = await import('../../storage-api/src/store/postgres.ts');
  if (!/^[a-z_][a-z0-9_]*$/.test(spec.databaseSchema)) throw new Error(`invalid schema ${spec.databaseSchema}`);
  const pool = new pg.Pool({ connectionString: withDefaultUser(spec.databaseUrl), max: PG_POOL_MAX, options: `-c search_path=${spec.databaseSchema}` });
  pool.on('error', () => {});
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${spec.databaseSchema}`);
  await pool.query('CREATE TABLE IF NOT EXISTS bare_notes (id BIGSERIAL PRIMARY KEY, note_id TEXT NOT NULL, body TEXT NOT NULL)');
  const fastify = Fastify({ bodyLimit: 4 * 1024 * 1024 });
  fastify.post('/bare/notes', async (request, reply) => {
    const envelope = (request.body as BareBody | null)?.envelope;
    if (typeof envelope?.noteId !== 'string' || typeof envelope.body !== 'string') return reply.code(400).send({ error: 'bad body' });
    const { rows } = await pool.query<{ id: string }>('INSERT INTO bare_notes (note_id, body) VALUES ($1, $2) RETURNING id', [envelope.noteId, envelope.body]);
    return { id: Number(rows[0]!.id) };
  });
  fastify.get('/bare/notes/:id', async (request, reply) => {
    const { rows } = await pool.query('SELECT id, note_id, body FROM bare_notes WHERE id = $1', [Number((request.params as { id: string }).id)]);
    return rows[0] ?? reply.code(404).send({ error: 'not found' });
  });
  const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await fastify.close();
      await pool.end();
    },
  };
}

async function child(spec: ServerSpec): Promise<void> {
  let running: Running;
  try {
    running = spec.mode === 'api' ? await startApi(spec) : spec.mode === 'bare-sqlite' ? await startBareSqlite(spec) : await startBarePg(spec);
  } catch (error) {
    process.send?.({ error: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await running.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message) => {
    if (message === 'close') void close();
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ cpu: user + system });
    }
  });
  process.on('disconnect', () => void close());
  process.send?.({ url: running.url });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child(JSON.parse(process.argv[2]!) as ServerSpec);
}
