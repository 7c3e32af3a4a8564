/**
 * Migration 4 ("people and devices") on a database written by the steps before it, on
 * SQLite and PostgreSQL: the membership rows survive, the index takes the new status
 * `unlinked`, the chain and link-offer tables exist, and migrating again is a no-op.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { MIGRATIONS as PG_MIGRATIONS, PostgresStore } from '../src/store/postgres.ts';
import { MIGRATIONS as SQLITE_MIGRATIONS, SQLITE_FILE_NAME, SqliteStore } from '../src/store/sqlite.ts';
import { pgQuery, TEST_DATABASE_URL } from './support/server.ts';

const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId;
const DEVICE = 'a'.repeat(52) as Fingerprint;

describe('migration 4 (people and devices) over an existing database', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('SQLite: keeps the membership rows and adds the new status and tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conclave-migrate-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = new Database(join(dir, SQLITE_FILE_NAME));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const step of SQLITE_MIGRATIONS.filter((m) => m.version < 4)) {
      db.exec(step.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(step.version, step.name, 0);
    }
    db.prepare("INSERT INTO group_heads (group_id, seq, hash) VALUES (?, 3, 'h')").run(GROUP);
    db.prepare("INSERT INTO memberships (group_id, fingerprint, status, since_seq, until_seq) VALUES (?, ?, 'left', 1, 3)").run(GROUP, DEVICE);
    expect(() => db.prepare("INSERT INTO memberships (group_id, fingerprint, status, since_seq, until_seq) VALUES (?, 'b', 'unlinked', 1, 3)").run(GROUP)).toThrow(/CHECK/);
    db.close();

    const store = new SqliteStore(dir);
    cleanups.push(() => store.close());
    await store.migrate();
    await store.migrate();
    expect(await store.membership(GROUP, DEVICE)).toEqual({ status: 'left', untilSeq: 3 });
    expect(await store.groupsOf(DEVICE)).toEqual([{ groupId: GROUP, status: 'left', untilSeq: 3, head: { seq: 3, hash: 'h' } }]);
    const after = new Database(join(dir, SQLITE_FILE_NAME));
    cleanups.push(() => {
      after.close();
    });
    after.prepare("INSERT INTO memberships (group_id, fingerprint, status, since_seq, until_seq) VALUES (?, 'b', 'unlinked', 1, 3)").run(GROUP);
    expect(await store.membership(GROUP, 'b' as Fingerprint)).toEqual({ status: 'unlinked', untilSeq: 3 });
    expect(await store.getChain(DEVICE)).toBeNull();
    expect(await store.findLinkOffer('lookup', 0)).toBeNull();
  });

  it('PostgreSQL: keeps the membership rows and adds the new status and tables', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await pgQuery(`CREATE SCHEMA ${schema}`);
    cleanups.push(async () => {
      await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    const setup = [`SET search_path TO ${schema}`, 'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)'];
    for (const step of PG_MIGRATIONS.filter((m) => m.version < 4)) setup.push(step.sql, `INSERT INTO schema_migrations VALUES (${step.version}, '${step.name}', 0)`);
    setup.push(`INSERT INTO group_heads (group_id, seq, hash) VALUES ('${GROUP}', 3, 'h')`, `INSERT INTO memberships VALUES ('${GROUP}', '${DEVICE}', 'left', 1, 3)`);
    await pgQuery(setup.join(';\n'));
    await expect(pgQuery(`INSERT INTO ${schema}.memberships VALUES ('${GROUP}', 'b', 'unlinked', 1, 3)`)).rejects.toThrow(/check/i);

    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
    cleanups.push(() => store.close());
    await store.migrate();
    await store.migrate();
    expect(await store.membership(GROUP, DEVICE)).toEqual({ status: 'left', untilSeq: 3 });
    await pgQuery(`INSERT INTO ${schema}.memberships VALUES ('${GROUP}', 'b', 'unlinked', 1, 3)`);
    expect(await store.membership(GROUP, 'b' as Fingerprint)).toEqual({ status: 'unlinked', untilSeq: 3 });
    expect(await store.getChain(DEVICE)).toBeNull();
    expect(await store.findLinkOffer('lookup', 0)).toBeNull();
  });
});
