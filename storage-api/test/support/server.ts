/**
 * A real storage API on a loopback port for HTTP tests: `build(config)` then
 * `listen({host: '127.0.0.1', port: 0})`, on SQLite (a fresh temporary data directory)
 * or PostgreSQL (a fresh `t_<random>` schema in the test database, dropped on close).
 * Request logs are captured so tests can scan them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { build, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { withDefaultUser } from '../../src/store/postgres.ts';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];

/** The PostgreSQL the tests use (each run in its own schema). */
export const TEST_DATABASE_URL = process.env.CONCLAVE_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

export interface TestServer {
  kind: StoreKind;
  url: string;
  app: App;
  config: Config;
  /** SQLite: the data directory holding the database file and its -wal/-shm. */
  dataDir: string | null;
  /** PostgreSQL: the schema this server writes to. */
  schema: string | null;
  /** Every log line written so far. */
  logs(): string;
  /** Stops the server, then removes the data directory or drops the schema. Safe to call twice. */
  close(): Promise<void>;
  /** Stops the server but keeps its data, for scanning afterwards; `close()` still cleans up. */
  stop(): Promise<void>;
}

export interface StartOptions {
  config?: Partial<Config>;
  /** The server's clock. */
  now?: () => number;
  /** Serve the data of this server (its SQLite directory or PostgreSQL schema) instead of fresh data. */
  reuse?: Pick<TestServer, 'dataDir' | 'schema'>;
  /** Listen on this port (a restart at the same address); 0 by default. */
  port?: number;
  /** false: no hot path, every call through tRPC's fetch adapter (storage-api/src/trpc/hot-path.ts). */
  hotPath?: boolean;
}

async function withPg<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`the PostgreSQL tests need a database at ${TEST_DATABASE_URL} (set CONCLAVE_TEST_DATABASE_URL): ${(error as Error).message}`);
  }
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Runs a query in the test database, outside any server. */
export function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
  return withPg((client) => client.query<R>(text, values));
}

export async function startServer(kind: StoreKind, options: StartOptions = {}): Promise<TestServer> {
  let dataDir: string | null = null;
  let schema: string | null = null;
  const overrides: Partial<Config> = { logLevel: 'debug', ...options.config };
  if (kind === 'sqlite') {
    dataDir = options.reuse?.dataDir ?? mkdtempSync(join(tmpdir(), 'conclave-http-'));
    overrides.dataDir = dataDir;
  } else {
    schema = options.reuse?.schema ?? `t_${randomBytes(6).toString('hex')}`;
    if (!options.reuse) await pgQuery(`CREATE SCHEMA ${schema}`);
    overrides.databaseUrl = TEST_DATABASE_URL;
    overrides.databaseSchema = schema;
  }
  // Nothing from the environment: each test says exactly what it configures.
  const config = loadConfig({}, overrides);

  const chunks: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });

  let app: App | undefined;
  let stopped = false;
  let cleaned = false;
  const stop = async () => {
    if (stopped || !app) return;
    stopped = true;
    await app.close();
  };
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (schema) await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  };

  try {
    app = await build(config, { logStream, ...(options.now ? { now: options.now } : {}), ...(options.hotPath === false ? { hotPath: false } : {}) });
    const address = await app.fastify.listen({ host: '127.0.0.1', port: options.port ?? 0 });
    return {
      kind,
      url: address,
      app,
      config,
      dataDir,
      schema,
      logs: () => chunks.join(''),
      stop,
      async close() {
        try {
          await stop();
        } finally {
          await cleanUp();
        }
      },
    };
  } catch (error) {
    await stop().catch(() => undefined);
    await cleanUp();
    throw error;
  }
}

/**
 * Plays a dishonest or restored-from-backup server: cuts a group's stored log back to
 * entry `keepSeq` behind the API's back (the API notices the shorter head and replays).
 */
export async function cutLogBack(server: TestServer, groupId: string, keepSeq: number, hashAtKeep: string): Promise<void> {
  if (server.kind === 'sqlite') {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(server.dataDir!, 'conclave.sqlite'));
    try {
      db.pragma('busy_timeout = 5000');
      db.transaction(() => {
        db.prepare('DELETE FROM log_entries WHERE group_id = ? AND seq > ?').run(groupId, keepSeq);
        db.prepare('UPDATE group_heads SET seq = ?, hash = ? WHERE group_id = ?').run(keepSeq, hashAtKeep, groupId);
      })();
    } finally {
      db.close();
    }
  } else {
    await withPg(async (client) => {
      await client.query('BEGIN');
      await client.query(`DELETE FROM "${server.schema}".log_entries WHERE group_id = $1 AND seq > $2`, [groupId, keepSeq]);
      await client.query(`UPDATE "${server.schema}".group_heads SET seq = $1, hash = $2 WHERE group_id = $3`, [keepSeq, hashAtKeep, groupId]);
      await client.query('COMMIT');
    });
  }
}
