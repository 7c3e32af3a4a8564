/**
 * The PostgreSQL store's `notify` (the live feed's NOTIFY, services/pg-event-feed.ts)
 * sends the notifies that come while one is in flight together in one statement: every
 * one of a burst must still arrive, each exactly once, in the order they were sent, and
 * each promise resolve only once its notification went out.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore, withDefaultUser } from '../src/store/postgres.ts';

const TEST_DATABASE_URL = process.env.CONCLAVE_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
const BURST = 200;

describe('PostgreSQL notify under a burst', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let store: PostgresStore;
  let listener: pg.Client;
  const received: string[] = [];

  beforeAll(async () => {
    store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
    await store.migrate();
    listener = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
    await listener.connect();
    listener.on('notification', (n) => received.push(n.payload ?? ''));
    await listener.query(`LISTEN "${store.eventChannel}"`);
  });

  afterAll(async () => {
    await listener?.end();
    await store?.close();
    const admin = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it(`delivers each of ${BURST} notifies sent at once, once and in order`, async () => {
    const payloads = Array.from({ length: BURST }, (_, i) => JSON.stringify({ kind: 'note', i }));
    await Promise.all(payloads.map((p) => store.notify(store.eventChannel, p)));
    // Every promise resolved: each notification has been sent; give the listener a moment to read them.
    const deadline = Date.now() + 5000;
    while (received.length < BURST && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toEqual(payloads);
  });
});
