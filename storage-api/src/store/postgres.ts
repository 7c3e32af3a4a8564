/**
 * The PostgreSQL store (`DATABASE_URL`): the same tables and semantics as the SQLite
 * store, inside one schema (`config.databaseSchema`), through a `pg` Pool. Several
 * storage-api processes can share one database.
 *
 * Compare-and-set, with READ COMMITTED transactions:
 * - `appendEntries` locks the group's head row (`SELECT … FOR UPDATE`), or for a new
 *   group inserts it with `ON CONFLICT DO NOTHING` (a concurrent creator waits on the
 *   primary key and then inserts nothing). A writer that waited re-reads the head the
 *   winner committed and loses. The primary key `(group_id, seq)` is the backstop: a
 *   unique violation becomes the conflict result, never an error.
 * - `putNoteVersion` sends the puts to one group in batches (while one batch of a group
 *   is in flight in this process, later puts wait and go together): one call of the
 *   function `conclave_put_notes` per batch, one round trip, one implicit transaction,
 *   one commit. It takes a KEY SHARE lock on the group's head row and compares it with
 *   the head each put was checked against: an append's `FOR UPDATE` waits for the
 *   batch to commit, and a batch behind an append sees the new head and answers
 *   `staleHead` for the puts checked at the old one. Then it takes a
 *   transaction-scoped advisory lock per group, and for each put, in its own
 *   subtransaction, checks the current version and inserts; a unique violation is a
 *   conflict for that put alone. The lock also makes cursors commit in order within a
 *   group: a change id is drawn from the BIGSERIAL only while holding it, so a reader
 *   that has seen cursor n has seen every change of that group below n, and
 *   `listNotes(since)` never skips a change that commits late. Groups do not wait for
 *   each other.
 *
 * int8 columns (timestamps, change ids) are parsed to numbers; every value stored is
 * well below 2^53.
 */
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Fingerprint, GroupId, InviteId, NoteId } from '@conclave/shared/verify';
import type { DeviceEntry, KeyBox, LogEntry, LogHead, NoteEnvelope, PublicBundle } from '@conclave/shared/verify';
import type { NoteHeader } from '@conclave/shared/verify';
import type {
  AppendIndexes,
  AppendResult,
  ChainAppendResult,
  ChainDeviceChanges,
  DeviceStanding,
  MembershipStatus,
  MemberView,
  NotePutResult,
  NoteToRead,
  Store,
  StoredCheckpoint,
  StoredNoteHeader,
} from './types.ts';

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema holding every table; created by `migrate()`. */
  schema?: string;
  /** Pool size. */
  max?: number;
}

const INT8_OID = 20;
const UNIQUE_VIOLATION = '23505';
/** Raised by `conclave_put_note` when a note's head moved under it (unreachable; rolls the put back). */
const SERIALIZATION_FAILURE = '40001';
const MAX_INT4 = 2 ** 31 - 1;

/** Parses int8 to a JS number for this pool only (the global pg parsers stay as they are). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export const MIGRATIONS: Array<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE IF NOT EXISTS identities (
        fingerprint TEXT PRIMARY KEY,
        bundle      TEXT NOT NULL
      );

      CREATE TABLE IF NOT EXISTS challenges (
        id         TEXT PRIMARY KEY,
        challenge  TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);

      CREATE TABLE IF NOT EXISTS sessions (
        token_hash  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        expires_at  BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);

      CREATE TABLE IF NOT EXISTS group_heads (
        group_id TEXT PRIMARY KEY,
        seq      INTEGER NOT NULL,
        hash     TEXT NOT NULL
      );

      CREATE TABLE IF NOT EXISTS log_entries (
        group_id TEXT NOT NULL REFERENCES group_heads (group_id),
        seq      INTEGER NOT NULL,
        entry    TEXT NOT NULL,
        PRIMARY KEY (group_id, seq)
      );

      CREATE TABLE IF NOT EXISTS memberships (
        group_id    TEXT NOT NULL REFERENCES group_heads (group_id),
        fingerprint TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('member', 'removed', 'left', 'replaced')),
        since_seq   INTEGER NOT NULL,
        until_seq   INTEGER,
        PRIMARY KEY (group_id, fingerprint)
      );
      CREATE INDEX IF NOT EXISTS memberships_by_fingerprint ON memberships (fingerprint, group_id);

      CREATE TABLE IF NOT EXISTS invites (
        invite_id TEXT PRIMARY KEY,
        group_id  TEXT NOT NULL REFERENCES group_heads (group_id)
      );

      CREATE TABLE IF NOT EXISTS key_boxes (
        group_id       TEXT NOT NULL,
        generation     INTEGER NOT NULL,
        recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('member', 'invite')),
        recipient_id   TEXT NOT NULL,
        box            TEXT NOT NULL,
        UNIQUE (group_id, generation, recipient_kind, recipient_id)
      );
      CREATE INDEX IF NOT EXISTS key_boxes_by_recipient ON key_boxes (group_id, recipient_kind, recipient_id, generation);

      CREATE TABLE IF NOT EXISTS key_requests (
        group_id     TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        generation   INTEGER NOT NULL,
        requested_at BIGINT NOT NULL,
        PRIMARY KEY (group_id, fingerprint)
      );

      CREATE TABLE IF NOT EXISTS note_versions (
        group_id  TEXT NOT NULL,
        note_id   TEXT NOT NULL,
        version   INTEGER NOT NULL,
        change_id BIGSERIAL NOT NULL UNIQUE,
        envelope  TEXT NOT NULL,
        PRIMARY KEY (group_id, note_id, version)
      );

      CREATE TABLE IF NOT EXISTS note_heads (
        group_id  TEXT NOT NULL,
        note_id   TEXT NOT NULL,
        version   INTEGER NOT NULL,
        change_id BIGINT NOT NULL UNIQUE,
        header    TEXT NOT NULL,
        PRIMARY KEY (group_id, note_id)
      );
      CREATE INDEX IF NOT EXISTS note_heads_changes ON note_heads (group_id, change_id);
    `,
  },
  {
    // Key boxes are kept per sender: a member may replace only the boxes it sealed,
    // never another sender's box for the same recipient and generation.
    version: 2,
    name: 'key boxes per sender',
    sql: `
      CREATE TABLE key_boxes_per_sender (
        group_id       TEXT NOT NULL,
        generation     INTEGER NOT NULL,
        recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('member', 'invite')),
        recipient_id   TEXT NOT NULL,
        sender         TEXT NOT NULL,
        box            TEXT NOT NULL,
        PRIMARY KEY (group_id, generation, recipient_kind, recipient_id, sender)
      );
      INSERT INTO key_boxes_per_sender (group_id, generation, recipient_kind, recipient_id, sender, box)
        SELECT group_id, generation, recipient_kind, recipient_id, (box::json)->>'sender', box FROM key_boxes;
      DROP TABLE key_boxes;
      ALTER TABLE key_boxes_per_sender RENAME TO key_boxes;
      ALTER INDEX key_boxes_per_sender_pkey RENAME TO key_boxes_pkey;
      CREATE INDEX key_boxes_by_recipient ON key_boxes (group_id, recipient_kind, recipient_id, generation, sender);
      CREATE INDEX key_boxes_self ON key_boxes (group_id, generation) WHERE recipient_kind = 'member' AND recipient_id = sender;
    `,
  },
  {
    // Validated group states, so a cache miss extends a checkpoint instead of replaying from entry 0.
    version: 3,
    name: 'group checkpoints',
    sql: `
      CREATE TABLE group_checkpoints (
        group_id TEXT PRIMARY KEY,
        seq      INTEGER NOT NULL,
        hash     TEXT NOT NULL,
        format   TEXT NOT NULL,
        data     TEXT NOT NULL
      );
    `,
  },
  {
    // Protocol v3: the membership index is by device (a device its person unlinked is
    // 'unlinked'); people's device chains, the device index (one person per device,
    // ever), and link offers.
    version: 4,
    name: 'people and devices',
    sql: `
      ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_status_check;
      ALTER TABLE memberships ADD CONSTRAINT memberships_status_check CHECK (status IN ('member', 'removed', 'left', 'replaced', 'unlinked'));

      CREATE TABLE person_heads (
        person TEXT PRIMARY KEY,
        seq    INTEGER NOT NULL,
        hash   TEXT NOT NULL
      );

      CREATE TABLE person_entries (
        person TEXT NOT NULL REFERENCES person_heads (person),
        seq    INTEGER NOT NULL,
        entry  TEXT NOT NULL,
        PRIMARY KEY (person, seq)
      );

      CREATE TABLE person_devices (
        device       TEXT PRIMARY KEY,
        person       TEXT NOT NULL REFERENCES person_heads (person),
        linked_seq   INTEGER NOT NULL,
        unlinked_seq INTEGER
      );
      CREATE INDEX person_devices_by_person ON person_devices (person);

      CREATE TABLE link_offers (
        lookup     TEXT PRIMARY KEY,
        device     TEXT NOT NULL,
        bundle     TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX link_offers_expiry ON link_offers (expires_at);
    `,
  },
  {
    // Note puts in one round trip (see the module comment): the same advisory lock,
    // version check and inserts as before, in one function call for a batch of puts
    // to one group, each in its own subtransaction.
    version: 5,
    name: 'note put function',
    sql: `
      -- One row per put, in order: put_status 'ok' (put_value: the cursor), 'version'
      -- (put_value: the current version), 'head' (the group's head is not the one given)
      -- or 'unlinked' (the author device p_authors[i] is unlinked by its person).
      CREATE FUNCTION conclave_put_notes(p_lock TEXT, p_group TEXT, p_notes TEXT[], p_versions INTEGER[], p_envelopes TEXT[], p_headers TEXT[], p_head_seqs INTEGER[], p_head_hashes TEXT[], p_authors TEXT[])
      RETURNS TABLE (put_status TEXT, put_value BIGINT)
      LANGUAGE plpgsql
      SET search_path FROM CURRENT
      AS $fn$
      DECLARE
        v_head_seq INTEGER;
        v_head_hash TEXT;
        v_current INTEGER;
        v_cursor BIGINT;
      BEGIN
        -- Appends wait for this put to commit (their FOR UPDATE); a put behind an append sees its head.
        SELECT seq, hash INTO v_head_seq, v_head_hash FROM group_heads WHERE group_id = p_group FOR KEY SHARE;
        PERFORM pg_advisory_xact_lock(hashtextextended(p_lock, 0));
        FOR i IN 1 .. coalesce(array_length(p_notes, 1), 0) LOOP
          IF p_head_seqs[i] IS NOT NULL AND (v_head_seq IS DISTINCT FROM p_head_seqs[i] OR v_head_hash IS DISTINCT FROM p_head_hashes[i]) THEN
            put_status := 'head'; put_value := NULL;
            RETURN NEXT;
            CONTINUE;
          END IF;
          -- FOR SHARE: an unlink (an UPDATE of this row) waits for this put to commit, and a put behind an unlink sees it.
          PERFORM 1 FROM person_devices WHERE device = p_authors[i] AND unlinked_seq IS NOT NULL FOR SHARE;
          IF FOUND THEN
            put_status := 'unlinked'; put_value := NULL;
            RETURN NEXT;
            CONTINUE;
          END IF;
          BEGIN
            SELECT version INTO v_current FROM note_heads WHERE group_id = p_group AND note_id = p_notes[i];
            v_current := COALESCE(v_current, 0);
            IF p_versions[i] <> v_current + 1 THEN
              put_status := 'version'; put_value := v_current;
            ELSE
              INSERT INTO note_versions (group_id, note_id, version, envelope) VALUES (p_group, p_notes[i], p_versions[i], p_envelopes[i])
                RETURNING change_id INTO v_cursor;
              IF v_current = 0 THEN
                INSERT INTO note_heads (group_id, note_id, version, change_id, header) VALUES (p_group, p_notes[i], p_versions[i], v_cursor, p_headers[i]);
              ELSE
                UPDATE note_heads SET version = p_versions[i], change_id = v_cursor, header = p_headers[i]
                  WHERE group_id = p_group AND note_id = p_notes[i] AND version = v_current;
                IF NOT FOUND THEN
                  -- Unreachable under the lock; raising rolls this put back.
                  RAISE EXCEPTION 'note head moved' USING ERRCODE = '40001';
                END IF;
              END IF;
              put_status := 'ok'; put_value := v_cursor;
            END IF;
          EXCEPTION WHEN unique_violation OR serialization_failure THEN
            -- A writer that does not take the lock got there first: a conflict, rolled back alone.
            SELECT version INTO v_current FROM note_heads WHERE group_id = p_group AND note_id = p_notes[i];
            put_status := 'version'; put_value := COALESCE(v_current, 0);
          END;
          RETURN NEXT;
        END LOOP;
      END
      $fn$;
    `,
  },
];

/** Thrown inside a transaction to roll it back and answer with a conflict. */
class CasConflict extends Error {}

/** Thrown inside a chain append to roll it back: a device it links already belongs to another person. */
class DeviceClaimed extends Error {
  constructor(
    readonly device: Fingerprint,
    readonly person: Fingerprint,
  ) {
    super('device claimed');
  }
}

function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof CasConflict || code === UNIQUE_VIOLATION || code === SERIALIZATION_FAILURE;
}

/**
 * Later rows win, like the sequence of upserts they stand for (one statement may not
 * touch a row twice); sorted by key, so concurrent writers lock rows in one order.
 */
function lastByKey<T>(rows: T[], key: (row: T) => string): T[] {
  const map = new Map<string, T>();
  for (const row of rows) map.set(key(row), row);
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

function checkAppend(groupId: GroupId, entries: LogEntry[], head: LogHead): void {
  const first = entries[0];
  if (!first) throw new Error('appendEntries needs at least one entry');
  entries.forEach((entry, i) => {
    if (entry.groupId !== groupId) throw new Error(`entry ${entry.seq} belongs to another group`);
    if (entry.seq !== first.seq + i) throw new Error('appendEntries needs consecutive entries');
  });
  if (head.seq !== first.seq + entries.length - 1) throw new Error('the new head must be the last entry appended');
}

function checkChainAppend(person: Fingerprint, entries: DeviceEntry[], head: LogHead): void {
  const first = entries[0];
  if (!first) throw new Error('appendChain needs at least one entry');
  entries.forEach((entry, i) => {
    if (entry.person !== person) throw new Error(`device entry ${entry.seq} belongs to another person`);
    if (entry.seq !== first.seq + i) throw new Error('appendChain needs consecutive entries');
  });
  if (head.seq !== first.seq + entries.length - 1) throw new Error('the new head must be the last entry appended');
}

function checkNote(envelope: NoteEnvelope, header: NoteHeader): void {
  if (header.groupId !== envelope.groupId || header.noteId !== envelope.noteId || header.version !== envelope.version) {
    throw new Error('the note header does not describe the envelope');
  }
}

/**
 * Like libpq, a URL without a user name connects as the operating-system user; `pg`
 * only looks at `$PGUSER` and `$USER`, which a service manager may not set.
 */
export function withDefaultUser(connectionString: string): string {
  if (process.env.PGUSER || process.env.USER) return connectionString;
  try {
    const url = new URL(connectionString);
    if (url.username || !url.hostname) return connectionString;
    url.username = encodeURIComponent(userInfo().username);
    return url.toString();
  } catch {
    return connectionString;
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid schema name: ${name}`);
  return `"${name}"`;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

/** A note put waiting for its group's next batch (`putNoteVersion`). */
interface PendingPut {
  envelope: NoteEnvelope;
  header: NoteHeader;
  checkedAt: LogHead | undefined;
  resolve: (result: NotePutResult) => void;
  reject: (error: unknown) => void;
}

/** A live event waiting for its channel's next notify statement (`notify`). */
interface PendingNotify {
  payload: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** At most this many puts (or notifies) go in one batch: it bounds the size of one call (each envelope is at most about 1.4 MB of JSON). */
const MAX_NOTE_BATCH = 32;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly connectionString: string;
  private closed = false;
  /** Per channel with a notify in flight: the notifies waiting for the next statement. */
  private readonly notifyQueue = new Map<string, PendingNotify[]>();
  /** Per group with a note batch in flight: the puts waiting for the next one. */
  private readonly noteBatches = new Map<GroupId, PendingPut[]>();

  constructor(options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    quoteIdent(this.schema);
    this.connectionString = withDefaultUser(options.connectionString);
    this.pool = new pg.Pool({
      connectionString: this.connectionString,
      max: options.max ?? 10,
      types,
      // Every connection resolves unqualified names in our schema (set at startup, before any query).
      options: `-c search_path=${this.schema}`,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on('error', () => {});
  }

  /** Runs `fn` in a transaction on one client: commit on return, roll back on throw. */
  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError;
      }
      throw error;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async migrate(): Promise<void> {
    const schema = quoteIdent(this.schema);
    await this.tx(async (client) => {
      // Several processes may start at once: one migrates, the others wait and find it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`conclave:migrate:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`);
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const step of MIGRATIONS) {
        if (applied.has(step.version)) continue;
        await client.query(step.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [step.version, step.name, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // --- the live event feed (services/pg-event-feed.ts) ---------------------------------

  /** The NOTIFY channel of this schema's events: each schema (each deployment, each test run) has its own. */
  get eventChannel(): string {
    const name = `conclave_events_${this.schema}`;
    return name.length <= 63 ? name : `conclave_events_${createHash('sha256').update(this.schema).digest('hex').slice(0, 40)}`;
  }

  /**
   * `pg_notify(channel, payload)` on a pooled connection, in its own transaction, so
   * sent at once. While one is in flight, the notifies that come meanwhile wait and go
   * together in one statement, in order (one round trip for a burst of note puts). Each
   * promise resolves once its notification is sent. (PostgreSQL delivers two identical
   * payloads of one transaction once; every payload but `resync` names its own change.)
   */
  async notify(channel: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting = this.notifyQueue.get(channel);
      if (waiting) {
        waiting.push({ payload, resolve, reject });
        return;
      }
      this.notifyQueue.set(channel, []);
      void this.sendNotifies(channel, [{ payload, resolve, reject }]);
    });
  }

  private async sendNotifies(channel: string, batch: PendingNotify[]): Promise<void> {
    try {
      await this.pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i', [channel, batch.map((n) => n.payload)]);
      for (const n of batch) n.resolve();
    } catch (error) {
      for (const n of batch) n.reject(error);
    }
    const waiting = this.notifyQueue.get(channel)!;
    if (waiting.length === 0) {
      this.notifyQueue.delete(channel);
      return;
    }
    void this.sendNotifies(channel, waiting.splice(0, MAX_NOTE_BATCH));
  }

  /** A new, unconnected client on the same database (the feed's one listening connection). */
  newClient(applicationName: string): pg.Client {
    return new pg.Client({ connectionString: this.connectionString, application_name: applicationName.slice(0, 63), keepAlive: true, connectionTimeoutMillis: 10_000 });
  }

  // --- identities ------------------------------------------------------------------

  async putIdentity(fingerprint: Fingerprint, bundle: PublicBundle): Promise<void> {
    await this.pool.query('INSERT INTO identities (fingerprint, bundle) VALUES ($1, $2) ON CONFLICT (fingerprint) DO UPDATE SET bundle = excluded.bundle', [
      fingerprint,
      JSON.stringify(bundle),
    ]);
  }

  async getIdentity(fingerprint: Fingerprint): Promise<PublicBundle | null> {
    const { rows } = await this.pool.query<{ bundle: string }>('SELECT bundle FROM identities WHERE fingerprint = $1', [fingerprint]);
    return rows[0] ? (JSON.parse(rows[0].bundle) as PublicBundle) : null;
  }

  // --- challenges and sessions -------------------------------------------------------

  async putChallenge(id: string, challenge: string, expiresAt: number): Promise<void> {
    await this.pool.query('INSERT INTO challenges (id, challenge, expires_at) VALUES ($1, $2, $3)', [id, challenge, expiresAt]);
  }

  async takeChallenge(id: string, now: number): Promise<string | null> {
    // One statement: of two concurrent takes, only one gets the row back.
    const { rows } = await this.pool.query<{ challenge: string; expires_at: number }>('DELETE FROM challenges WHERE id = $1 RETURNING challenge, expires_at', [id]);
    const row = rows[0];
    return row && row.expires_at > now ? row.challenge : null;
  }

  async putSession(tokenHash: string, fingerprint: Fingerprint, expiresAt: number): Promise<void> {
    await this.pool.query('INSERT INTO sessions (token_hash, fingerprint, expires_at) VALUES ($1, $2, $3)', [tokenHash, fingerprint, expiresAt]);
  }

  async getSession(tokenHash: string, now: number): Promise<{ fingerprint: Fingerprint; expiresAt: number } | null> {
    const { rows } = await this.pool.query<{ fingerprint: Fingerprint; expires_at: number }>(
      'SELECT fingerprint, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2',
      [tokenHash, now],
    );
    const row = rows[0];
    return row ? { fingerprint: row.fingerprint, expiresAt: row.expires_at } : null;
  }

  async memberView(tokenHash: string, now: number, groupId: GroupId | null, note?: NoteToRead): Promise<MemberView> {
    // One statement: one round trip and one snapshot.
    const noteColumn = !note
      ? ''
      : note.version === undefined
        ? `, (SELECT v.envelope FROM note_heads nh JOIN note_versions v ON v.group_id = nh.group_id AND v.note_id = nh.note_id AND v.version = nh.version
              WHERE nh.group_id = $3 AND nh.note_id = $4) AS envelope`
        : ', (SELECT envelope FROM note_versions WHERE group_id = $3 AND note_id = $4 AND version = $5) AS envelope';
    const params: unknown[] = [tokenHash, now, groupId];
    if (note) params.push(note.noteId);
    if (note?.version !== undefined) params.push(note.version);
    const { rows } = await this.pool.query<{ fingerprint: Fingerprint | null; expires_at: number | null; unlinked: boolean; seq: number | null; hash: LogHead['hash'] | null; envelope?: string | null }>(
      `SELECT s.fingerprint, s.expires_at,
              EXISTS (SELECT 1 FROM person_devices d WHERE d.device = s.fingerprint AND d.unlinked_seq IS NOT NULL) AS unlinked,
              h.seq, h.hash${noteColumn}
       FROM (SELECT 1) AS one
       LEFT JOIN sessions s ON s.token_hash = $1 AND s.expires_at > $2
       LEFT JOIN group_heads h ON h.group_id = $3::text`,
      params,
    );
    const row = rows[0]!;
    const view: MemberView = {
      session: row.fingerprint !== null && row.expires_at !== null ? { fingerprint: row.fingerprint, expiresAt: row.expires_at } : null,
      unlinked: row.fingerprint !== null && row.unlinked,
      head: row.seq !== null && row.hash !== null ? { seq: row.seq, hash: row.hash } : null,
    };
    if (note) view.note = row.envelope ? (JSON.parse(row.envelope) as NoteEnvelope) : null;
    return view;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  }

  async purgeExpired(now: number): Promise<void> {
    await this.tx(async (client) => {
      await client.query('DELETE FROM challenges WHERE expires_at <= $1', [now]);
      await client.query('DELETE FROM sessions WHERE expires_at <= $1', [now]);
      await client.query('DELETE FROM link_offers WHERE expires_at <= $1', [now]);
    });
  }

  // --- people: device chains ----------------------------------------------------------------

  private async chainHead(db: Queryable, person: Fingerprint, lock = false): Promise<LogHead | null> {
    const { rows } = await db.query<LogHead>(`SELECT seq, hash FROM person_heads WHERE person = $1${lock ? ' FOR UPDATE' : ''}`, [person]);
    const row = rows[0];
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  async getChain(person: Fingerprint): Promise<{ entries: DeviceEntry[]; head: LogHead } | null> {
    const head = await this.chainHead(this.pool, person);
    if (!head) return null;
    // Entries past the head read (a concurrent append) are left out: entries and head agree.
    const { rows } = await this.pool.query<{ entry: string }>('SELECT entry FROM person_entries WHERE person = $1 AND seq <= $2 ORDER BY seq', [person, head.seq]);
    return { entries: rows.map((r) => JSON.parse(r.entry) as DeviceEntry), head };
  }

  async appendChain(person: Fingerprint, entries: DeviceEntry[], head: LogHead, changes: ChainDeviceChanges): Promise<ChainAppendResult> {
    checkChainAppend(person, entries, head);
    const first = entries[0]!.seq;
    try {
      return await this.tx(async (client): Promise<ChainAppendResult> => {
        if (first === 0) {
          // A new person: of concurrent publishers, one inserts the head; the others wait on the key, then insert nothing.
          const created = await client.query('INSERT INTO person_heads (person, seq, hash) VALUES ($1, $2, $3) ON CONFLICT (person) DO NOTHING', [person, head.seq, head.hash]);
          if (created.rowCount !== 1) throw new CasConflict('person exists');
        } else {
          const current = await this.chainHead(client, person, true);
          if (!current || current.seq !== first - 1) throw new CasConflict('head moved');
          await client.query('UPDATE person_heads SET seq = $1, hash = $2 WHERE person = $3', [head.seq, head.hash, person]);
        }
        await client.query('INSERT INTO person_entries (person, seq, entry) SELECT $1, * FROM unnest($2::int[], $3::text[])', [
          person,
          entries.map((e) => e.seq),
          entries.map((e) => JSON.stringify(e)),
        ]);
        // Sorted, so concurrent appends lock device rows in one order; a device another
        // transaction holds is waited for, then found taken.
        for (const { device, seq } of [...changes.linked].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0))) {
          const inserted = await client.query('INSERT INTO person_devices (device, person, linked_seq, unlinked_seq) VALUES ($1, $2, $3, NULL) ON CONFLICT (device) DO NOTHING', [
            device,
            person,
            seq,
          ]);
          if (inserted.rowCount !== 1) {
            const { rows } = await client.query<{ person: Fingerprint }>('SELECT person FROM person_devices WHERE device = $1', [device]);
            throw new DeviceClaimed(device, rows[0]?.person ?? person);
          }
        }
        for (const { device, seq } of changes.unlinked) {
          await client.query('UPDATE person_devices SET unlinked_seq = $1 WHERE device = $2 AND person = $3 AND unlinked_seq IS NULL', [seq, device, person]);
        }
        return { ok: true, head: { seq: head.seq, hash: head.hash } };
      });
    } catch (error) {
      if (error instanceof DeviceClaimed) return { ok: false, claimed: { device: error.device, person: error.person } };
      if (isConflict(error)) return { ok: false, head: await this.chainHead(this.pool, person) };
      throw error;
    }
  }

  async deviceStanding(device: Fingerprint): Promise<DeviceStanding | null> {
    const { rows } = await this.pool.query<{ person: Fingerprint; unlinked_seq: number | null }>('SELECT person, unlinked_seq FROM person_devices WHERE device = $1', [device]);
    const row = rows[0];
    return row ? { person: row.person, unlinkedSeq: row.unlinked_seq } : null;
  }

  async unlinkedDevices(devices: readonly Fingerprint[]): Promise<Set<Fingerprint>> {
    if (devices.length === 0) return new Set();
    const { rows } = await this.pool.query<{ device: Fingerprint }>('SELECT device FROM person_devices WHERE unlinked_seq IS NOT NULL AND device = ANY($1::text[])', [[...devices]]);
    return new Set(rows.map((r) => r.device));
  }

  // --- link offers ------------------------------------------------------------------------------

  async putLinkOffer(lookup: string, device: Fingerprint, bundle: PublicBundle, expiresAt: number, now: number): Promise<boolean> {
    // One statement: the offer is taken, or renewed by its own device, or replaces an expired one.
    const { rowCount } = await this.pool.query(
      `INSERT INTO link_offers (lookup, device, bundle, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (lookup) DO UPDATE SET device = excluded.device, bundle = excluded.bundle, expires_at = excluded.expires_at
       WHERE link_offers.device = excluded.device OR link_offers.expires_at <= $5`,
      [lookup, device, JSON.stringify(bundle), expiresAt, now],
    );
    return rowCount === 1;
  }

  async findLinkOffer(lookup: string, now: number): Promise<{ bundle: PublicBundle; expiresAt: number } | null> {
    const { rows } = await this.pool.query<{ bundle: string; expires_at: number }>('SELECT bundle, expires_at FROM link_offers WHERE lookup = $1 AND expires_at > $2', [lookup, now]);
    const row = rows[0];
    return row ? { bundle: JSON.parse(row.bundle) as PublicBundle, expiresAt: row.expires_at } : null;
  }

  // --- group logs ------------------------------------------------------------------------

  private async headOf(db: Queryable, groupId: GroupId, lock = false): Promise<LogHead | null> {
    const { rows } = await db.query<LogHead>(`SELECT seq, hash FROM group_heads WHERE group_id = $1${lock ? ' FOR UPDATE' : ''}`, [groupId]);
    const row = rows[0];
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  async getHead(groupId: GroupId): Promise<LogHead | null> {
    return this.headOf(this.pool, groupId);
  }

  async readLog(groupId: GroupId, fromSeq: number, limit: number, untilSeq?: number): Promise<LogEntry[]> {
    if (limit <= 0) return [];
    const last = Math.min(fromSeq + limit - 1, untilSeq ?? MAX_INT4, MAX_INT4);
    if (last < fromSeq) return [];
    const { rows } = await this.pool.query<{ entry: string }>(
      'SELECT entry FROM log_entries WHERE group_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4',
      [groupId, fromSeq, last, limit],
    );
    return rows.map((r) => JSON.parse(r.entry) as LogEntry);
  }

  async appendEntries(groupId: GroupId, entries: LogEntry[], head: LogHead, indexes: AppendIndexes): Promise<AppendResult> {
    checkAppend(groupId, entries, head);
    const first = entries[0]!.seq;
    try {
      return await this.tx(async (client): Promise<AppendResult> => {
        if (first === 0) {
          // A new group: of concurrent creators, one inserts the head; the others wait on the key, then insert nothing.
          const created = await client.query('INSERT INTO group_heads (group_id, seq, hash) VALUES ($1, $2, $3) ON CONFLICT (group_id) DO NOTHING', [
            groupId,
            head.seq,
            head.hash,
          ]);
          if (created.rowCount !== 1) throw new CasConflict('group exists');
        } else {
          const current = await this.headOf(client, groupId, true);
          if (!current || current.seq !== first - 1) throw new CasConflict('head moved');
          await client.query('UPDATE group_heads SET seq = $1, hash = $2 WHERE group_id = $3', [head.seq, head.hash, groupId]);
        }
        await client.query('INSERT INTO log_entries (group_id, seq, entry) SELECT $1, * FROM unnest($2::int[], $3::text[])', [
          groupId,
          entries.map((e) => e.seq),
          entries.map((e) => JSON.stringify(e)),
        ]);
        const memberships = lastByKey(indexes.memberships, (m) => m.fingerprint);
        if (memberships.length > 0) {
          await client.query(
            `INSERT INTO memberships (group_id, fingerprint, status, since_seq, until_seq)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::int[])
             ON CONFLICT (group_id, fingerprint) DO UPDATE SET status = excluded.status, since_seq = excluded.since_seq, until_seq = excluded.until_seq`,
            [groupId, memberships.map((m) => m.fingerprint), memberships.map((m) => m.status), memberships.map((m) => m.sinceSeq), memberships.map((m) => m.untilSeq)],
          );
        }
        if (indexes.invites.length > 0) {
          // An invite id is a fresh public key: the first group to log it keeps it.
          await client.query('INSERT INTO invites (invite_id, group_id) SELECT i, $1 FROM unnest($2::text[]) AS i ON CONFLICT (invite_id) DO NOTHING', [
            groupId,
            [...new Set(indexes.invites.map((i) => i.inviteId))].sort(),
          ]);
        }
        await this.writeBoxes(client, indexes.boxes);
        return { ok: true, head: { seq: head.seq, hash: head.hash } };
      });
    } catch (error) {
      if (isConflict(error)) return { ok: false, head: await this.getHead(groupId) };
      throw error;
    }
  }

  async groupsOf(fingerprint: Fingerprint): Promise<Array<{ groupId: GroupId; status: MembershipStatus; untilSeq: number | null; head: LogHead }>> {
    const { rows } = await this.pool.query<{ group_id: GroupId; status: MembershipStatus; until_seq: number | null; seq: number; hash: LogHead['hash'] }>(
      `SELECT m.group_id, m.status, m.until_seq, h.seq, h.hash
       FROM memberships m JOIN group_heads h ON h.group_id = m.group_id
       WHERE m.fingerprint = $1 ORDER BY m.group_id`,
      [fingerprint],
    );
    return rows.map((r) => ({ groupId: r.group_id, status: r.status, untilSeq: r.until_seq, head: { seq: r.seq, hash: r.hash } }));
  }

  async membership(groupId: GroupId, fingerprint: Fingerprint): Promise<{ status: MembershipStatus; untilSeq: number | null } | null> {
    const { rows } = await this.pool.query<{ status: MembershipStatus; until_seq: number | null }>(
      'SELECT status, until_seq FROM memberships WHERE group_id = $1 AND fingerprint = $2',
      [groupId, fingerprint],
    );
    const row = rows[0];
    return row ? { status: row.status, untilSeq: row.until_seq } : null;
  }

  async findInvite(inviteId: InviteId): Promise<GroupId | null> {
    const { rows } = await this.pool.query<{ group_id: GroupId }>('SELECT group_id FROM invites WHERE invite_id = $1', [inviteId]);
    return rows[0]?.group_id ?? null;
  }

  // --- checkpoints ----------------------------------------------------------------------

  async putCheckpoint(groupId: GroupId, checkpoint: StoredCheckpoint): Promise<void> {
    await this.pool.query(
      `INSERT INTO group_checkpoints (group_id, seq, hash, format, data) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (group_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, format = excluded.format, data = excluded.data
       WHERE excluded.seq >= group_checkpoints.seq`,
      [groupId, checkpoint.seq, checkpoint.hash, checkpoint.format, checkpoint.data],
    );
  }

  async getCheckpoint(groupId: GroupId): Promise<StoredCheckpoint | null> {
    const { rows } = await this.pool.query<StoredCheckpoint>('SELECT seq, hash, format, data FROM group_checkpoints WHERE group_id = $1', [groupId]);
    const row = rows[0];
    return row ? { seq: row.seq, hash: row.hash, format: row.format, data: row.data } : null;
  }

  async deleteCheckpoint(groupId: GroupId, seq?: number): Promise<void> {
    if (seq === undefined) await this.pool.query('DELETE FROM group_checkpoints WHERE group_id = $1', [groupId]);
    else await this.pool.query('DELETE FROM group_checkpoints WHERE group_id = $1 AND seq = $2', [groupId, seq]);
  }

  // --- key boxes ---------------------------------------------------------------------------

  /** Upserts boxes, one per (group, generation, recipient, sender). */
  private async writeBoxes(db: Queryable, boxes: KeyBox[]): Promise<void> {
    const unique = lastByKey(boxes, (b) => JSON.stringify([b.groupId, b.generation, b.recipient.kind, b.recipient.id, b.sender]));
    if (unique.length === 0) return;
    await db.query(
      `INSERT INTO key_boxes (group_id, generation, recipient_kind, recipient_id, sender, box)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
       ON CONFLICT (group_id, generation, recipient_kind, recipient_id, sender) DO UPDATE SET box = excluded.box`,
      [
        unique.map((b) => b.groupId),
        unique.map((b) => b.generation),
        unique.map((b) => b.recipient.kind),
        unique.map((b) => b.recipient.id),
        unique.map((b) => b.sender),
        unique.map((b) => JSON.stringify(b)),
      ],
    );
  }

  async putBoxes(boxes: KeyBox[]): Promise<void> {
    await this.writeBoxes(this.pool, boxes);
  }

  async boxesFor(groupId: GroupId, recipient: KeyBox['recipient'], generation?: number): Promise<KeyBox[]> {
    // COLLATE "C": the same byte order as SQLite, whatever the database's locale.
    const { rows } =
      generation === undefined
        ? await this.pool.query<{ box: string }>(
            'SELECT box FROM key_boxes WHERE group_id = $1 AND recipient_kind = $2 AND recipient_id = $3 ORDER BY generation, sender COLLATE "C"',
            [groupId, recipient.kind, recipient.id],
          )
        : await this.pool.query<{ box: string }>(
            'SELECT box FROM key_boxes WHERE group_id = $1 AND recipient_kind = $2 AND recipient_id = $3 AND generation = $4 ORDER BY sender COLLATE "C"',
            [groupId, recipient.kind, recipient.id, generation],
          );
    return rows.map((r) => JSON.parse(r.box) as KeyBox);
  }

  async recipientsWithOwnBox(groupId: GroupId, generation: number): Promise<Set<Fingerprint>> {
    const { rows } = await this.pool.query<{ recipient_id: Fingerprint }>(
      "SELECT recipient_id FROM key_boxes WHERE group_id = $1 AND generation = $2 AND recipient_kind = 'member' AND sender = recipient_id",
      [groupId, generation],
    );
    return new Set(rows.map((r) => r.recipient_id));
  }

  // --- key requests -------------------------------------------------------------------------

  async putKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number, at: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO key_requests (group_id, fingerprint, generation, requested_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (group_id, fingerprint) DO UPDATE SET generation = excluded.generation, requested_at = excluded.requested_at`,
      [groupId, fingerprint, generation, at],
    );
  }

  async keyRequests(groupId: GroupId): Promise<Array<{ fingerprint: Fingerprint; generation: number; requestedAt: number }>> {
    const { rows } = await this.pool.query<{ fingerprint: Fingerprint; generation: number; requested_at: number }>(
      'SELECT fingerprint, generation, requested_at FROM key_requests WHERE group_id = $1 ORDER BY requested_at, fingerprint',
      [groupId],
    );
    return rows.map((r) => ({ fingerprint: r.fingerprint, generation: r.generation, requestedAt: r.requested_at }));
  }

  async deleteKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number): Promise<void> {
    await this.pool.query('DELETE FROM key_requests WHERE group_id = $1 AND fingerprint = $2 AND generation <= $3', [groupId, fingerprint, generation]);
  }

  // --- notes ----------------------------------------------------------------------------------

  /**
   * Puts to one group are sent in batches: while one batch of a group is in flight in
   * this process, later puts to that group wait and then go together, as one call of
   * `conclave_put_notes` (one round trip, one commit, one WAL flush). Each put's
   * promise resolves only after that commit.
   */
  async putNoteVersion(envelope: NoteEnvelope, header: NoteHeader, checkedAt?: LogHead): Promise<NotePutResult> {
    checkNote(envelope, header);
    return new Promise((resolve, reject) => {
      const put: PendingPut = { envelope, header, checkedAt, resolve, reject };
      const waiting = this.noteBatches.get(envelope.groupId);
      if (waiting) {
        waiting.push(put);
        return;
      }
      this.noteBatches.set(envelope.groupId, []);
      void this.sendNoteBatch(envelope.groupId, [put]);
    });
  }

  /** Sends `batch` (puts to `groupId`), then the puts that queued meanwhile, until none wait. */
  private async sendNoteBatch(groupId: GroupId, batch: PendingPut[]): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ put_status: 'ok' | 'version' | 'head' | 'unlinked'; put_value: number | null }>(
        'SELECT put_status, put_value FROM conclave_put_notes($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [
          `conclave:notes:${this.schema}:${groupId}`,
          groupId,
          batch.map((p) => p.envelope.noteId),
          batch.map((p) => p.envelope.version),
          batch.map((p) => JSON.stringify(p.envelope)),
          batch.map((p) => JSON.stringify(p.header)),
          batch.map((p) => p.checkedAt?.seq ?? null),
          batch.map((p) => p.checkedAt?.hash ?? null),
          batch.map((p) => p.envelope.author),
        ],
      );
      if (rows.length !== batch.length) throw new Error(`conclave_put_notes answered ${rows.length} rows for ${batch.length} puts`);
      rows.forEach((row, i) => {
        const put = batch[i]!;
        if (row.put_status === 'ok') put.resolve({ ok: true, cursor: row.put_value! });
        else if (row.put_status === 'head') put.resolve({ ok: false, staleHead: true });
        else if (row.put_status === 'unlinked') put.resolve({ ok: false, unlinked: true });
        else put.resolve({ ok: false, currentVersion: row.put_value! });
      });
    } catch (error) {
      // The call failed as a whole: none of the batch was committed.
      for (const put of batch) put.reject(error);
    }
    const waiting = this.noteBatches.get(groupId)!;
    if (waiting.length === 0) {
      this.noteBatches.delete(groupId);
      return;
    }
    void this.sendNoteBatch(groupId, waiting.splice(0, MAX_NOTE_BATCH));
  }

  async getNote(groupId: GroupId, noteId: NoteId, version?: number): Promise<NoteEnvelope | null> {
    const { rows } =
      version === undefined
        ? await this.pool.query<{ envelope: string }>(
            `SELECT v.envelope FROM note_heads h JOIN note_versions v
             ON v.group_id = h.group_id AND v.note_id = h.note_id AND v.version = h.version
             WHERE h.group_id = $1 AND h.note_id = $2`,
            [groupId, noteId],
          )
        : await this.pool.query<{ envelope: string }>('SELECT envelope FROM note_versions WHERE group_id = $1 AND note_id = $2 AND version = $3', [
            groupId,
            noteId,
            version,
          ]);
    return rows[0] ? (JSON.parse(rows[0].envelope) as NoteEnvelope) : null;
  }

  async listNotes(groupId: GroupId, since: number, limit: number): Promise<StoredNoteHeader[]> {
    if (limit <= 0) return [];
    const { rows } = await this.pool.query<{ header: string; change_id: number }>(
      'SELECT header, change_id FROM note_heads WHERE group_id = $1 AND change_id > $2 ORDER BY change_id LIMIT $3',
      [groupId, since, limit],
    );
    return rows.map((r) => ({ header: JSON.parse(r.header) as NoteHeader, cursor: r.change_id }));
  }

  async noteCursor(groupId: GroupId): Promise<number> {
    const { rows } = await this.pool.query<{ cursor: number | null }>('SELECT MAX(change_id) AS cursor FROM note_heads WHERE group_id = $1', [groupId]);
    return rows[0]?.cursor ?? 0;
  }

  async noteCursors(groupIds: readonly GroupId[]): Promise<Map<GroupId, number>> {
    const cursors = new Map<GroupId, number>(groupIds.map((id) => [id, 0]));
    if (groupIds.length === 0) return cursors;
    const { rows } = await this.pool.query<{ group_id: GroupId; cursor: number }>(
      'SELECT group_id, MAX(change_id) AS cursor FROM note_heads WHERE group_id = ANY($1::text[]) GROUP BY group_id',
      [groupIds],
    );
    for (const row of rows) cursors.set(row.group_id, Number(row.cursor));
    return cursors;
  }
}
