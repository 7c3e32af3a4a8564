/**
 * The default store: one SQLite file (`<dataDir>/conclave.sqlite`) through
 * better-sqlite3, in WAL mode with `synchronous = FULL`, so a write is on disk before
 * its promise resolves and survives a kill -9 (storage-api/test/durability.node.test.ts).
 *
 * better-sqlite3 is synchronous: each method runs its statements to completion on the
 * calling thread and wraps the result in a promise. Every write that must be atomic
 * runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's single write lock
 * up front, so writers — in this process, another store on the same file, or another
 * process — are serialised and each one reads the state it is about to change.
 *
 * Note puts are group-committed: the puts that arrive in one turn of the event loop are
 * written in one transaction (a savepoint each), sharing one WAL sync; each is
 * acknowledged only after that commit.
 *
 * Compare-and-set (`appendEntries`, `putNoteVersion`) is checked twice: the head or
 * current version is read inside the write transaction, and the primary keys
 * `(group_id, seq)` and `(group_id, note_id, version)` refuse a second row at the same
 * position. A primary-key or unique violation becomes the conflict result; it is never
 * thrown.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

export const SQLITE_FILE_NAME = 'conclave.sqlite';

export interface SqliteStoreOptions {
  /** How long a writer waits for another connection's write lock, in ms. */
  busyTimeoutMs?: number;
}

/**
 * Numbered, idempotent migration steps. A step is applied once, inside the same
 * transaction that records it in `schema_migrations`; never edit a released step, add
 * a new one.
 */
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
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);

      CREATE TABLE IF NOT EXISTS sessions (
        token_hash  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
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
      ) WITHOUT ROWID;

      CREATE TABLE IF NOT EXISTS memberships (
        group_id    TEXT NOT NULL REFERENCES group_heads (group_id),
        fingerprint TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('member', 'removed', 'left', 'replaced')),
        since_seq   INTEGER NOT NULL,
        until_seq   INTEGER,
        PRIMARY KEY (group_id, fingerprint)
      ) WITHOUT ROWID;
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
        requested_at INTEGER NOT NULL,
        PRIMARY KEY (group_id, fingerprint)
      ) WITHOUT ROWID;

      CREATE TABLE IF NOT EXISTS note_versions (
        group_id  TEXT NOT NULL,
        note_id   TEXT NOT NULL,
        version   INTEGER NOT NULL,
        change_id INTEGER NOT NULL,
        envelope  TEXT NOT NULL,
        PRIMARY KEY (group_id, note_id, version)
      );

      CREATE TABLE IF NOT EXISTS note_heads (
        group_id  TEXT NOT NULL,
        note_id   TEXT NOT NULL,
        version   INTEGER NOT NULL,
        change_id INTEGER NOT NULL UNIQUE,
        header    TEXT NOT NULL,
        PRIMARY KEY (group_id, note_id)
      );
      CREATE INDEX IF NOT EXISTS note_heads_changes ON note_heads (group_id, change_id);

      -- The note change cursor: one counter, bumped inside each note put's write
      -- transaction, so cursors increase in commit order.
      CREATE TABLE IF NOT EXISTS counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO counters (name, value) VALUES ('note_change', 0);
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
      ) WITHOUT ROWID;
      INSERT INTO key_boxes_per_sender (group_id, generation, recipient_kind, recipient_id, sender, box)
        SELECT group_id, generation, recipient_kind, recipient_id, json_extract(box, '$.sender'), box FROM key_boxes;
      DROP TABLE key_boxes;
      ALTER TABLE key_boxes_per_sender RENAME TO key_boxes;
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
      ) WITHOUT ROWID;
    `,
  },
  {
    // Protocol v3: the membership index is by device (a device its person unlinked is
    // 'unlinked'); people's device chains, the device index (one person per device,
    // ever), and link offers.
    version: 4,
    name: 'people and devices',
    sql: `
      CREATE TABLE memberships_v4 (
        group_id    TEXT NOT NULL REFERENCES group_heads (group_id),
        fingerprint TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('member', 'removed', 'left', 'replaced', 'unlinked')),
        since_seq   INTEGER NOT NULL,
        until_seq   INTEGER,
        PRIMARY KEY (group_id, fingerprint)
      ) WITHOUT ROWID;
      INSERT INTO memberships_v4 SELECT group_id, fingerprint, status, since_seq, until_seq FROM memberships;
      DROP TABLE memberships;
      ALTER TABLE memberships_v4 RENAME TO memberships;
      CREATE INDEX memberships_by_fingerprint ON memberships (fingerprint, group_id);

      CREATE TABLE person_heads (
        person TEXT PRIMARY KEY,
        seq    INTEGER NOT NULL,
        hash   TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE person_entries (
        person TEXT NOT NULL REFERENCES person_heads (person),
        seq    INTEGER NOT NULL,
        entry  TEXT NOT NULL,
        PRIMARY KEY (person, seq)
      ) WITHOUT ROWID;

      CREATE TABLE person_devices (
        device       TEXT PRIMARY KEY,
        person       TEXT NOT NULL REFERENCES person_heads (person),
        linked_seq   INTEGER NOT NULL,
        unlinked_seq INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX person_devices_by_person ON person_devices (person);

      CREATE TABLE link_offers (
        lookup     TEXT PRIMARY KEY,
        device     TEXT NOT NULL,
        bundle     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX link_offers_expiry ON link_offers (expires_at);
    `,
  },
];

/** Thrown inside a write transaction to roll it back and answer with a conflict. */
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

/** A lost compare-and-set: our own check, or a primary-key / unique violation. */
function isConflict(error: unknown): boolean {
  if (error instanceof CasConflict) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
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

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** Note puts waiting for the next group commit (`putNoteVersion`). */
  private readonly pendingPuts: Array<{
    envelope: NoteEnvelope;
    header: NoteHeader;
    checkedAt: LogHead | undefined;
    resolve: (result: NotePutResult) => void;
    reject: (error: unknown) => void;
  }> = [];

  constructor(dataDir: string, options: SqliteStoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, SQLITE_FILE_NAME);
    this.db = new Database(this.path);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
    this.db.pragma('journal_mode = WAL');
    // FULL: every commit syncs the WAL, so an acknowledged write survives a crash too.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
  }

  /** A prepared statement, cached by its text. */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Runs `fn` in a `BEGIN IMMEDIATE` transaction: commit on return, roll back on throw. */
  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  async migrate(): Promise<void> {
    this.write(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      )`);
      const applied = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
      for (const step of MIGRATIONS) {
        if (applied.has(step.version)) continue;
        this.db.exec(step.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(step.version, step.name, Date.now());
      }
    });
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    // Puts already accepted are written (or refused) before the file closes.
    this.flushPuts();
    this.statements.clear();
    this.db.close();
  }

  // --- identities ------------------------------------------------------------------

  async putIdentity(fingerprint: Fingerprint, bundle: PublicBundle): Promise<void> {
    this.sql('INSERT INTO identities (fingerprint, bundle) VALUES (?, ?) ON CONFLICT (fingerprint) DO UPDATE SET bundle = excluded.bundle').run(
      fingerprint,
      JSON.stringify(bundle),
    );
  }

  async getIdentity(fingerprint: Fingerprint): Promise<PublicBundle | null> {
    const row = this.sql('SELECT bundle FROM identities WHERE fingerprint = ?').get(fingerprint) as { bundle: string } | undefined;
    return row ? (JSON.parse(row.bundle) as PublicBundle) : null;
  }

  // --- challenges and sessions -------------------------------------------------------

  async putChallenge(id: string, challenge: string, expiresAt: number): Promise<void> {
    this.sql('INSERT INTO challenges (id, challenge, expires_at) VALUES (?, ?, ?)').run(id, challenge, expiresAt);
  }

  async takeChallenge(id: string, now: number): Promise<string | null> {
    // One statement: of two concurrent takes, only one gets the row back.
    const row = this.sql('DELETE FROM challenges WHERE id = ? RETURNING challenge, expires_at').get(id) as
      | { challenge: string; expires_at: number }
      | undefined;
    return row && row.expires_at > now ? row.challenge : null;
  }

  async putSession(tokenHash: string, fingerprint: Fingerprint, expiresAt: number): Promise<void> {
    this.sql('INSERT INTO sessions (token_hash, fingerprint, expires_at) VALUES (?, ?, ?)').run(tokenHash, fingerprint, expiresAt);
  }

  async getSession(tokenHash: string, now: number): Promise<{ fingerprint: Fingerprint; expiresAt: number } | null> {
    const row = this.sql('SELECT fingerprint, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?').get(tokenHash, now) as
      | { fingerprint: Fingerprint; expires_at: number }
      | undefined;
    return row ? { fingerprint: row.fingerprint, expiresAt: row.expires_at } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    this.sql('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
  }

  async memberView(tokenHash: string, now: number, groupId: GroupId | null, note?: NoteToRead): Promise<MemberView> {
    // One deferred read transaction: one snapshot, even with a writer in another process.
    return this.db.transaction((): MemberView => {
      const session = this.sql('SELECT fingerprint, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?').get(tokenHash, now) as
        | { fingerprint: Fingerprint; expires_at: number }
        | undefined;
      const unlinked = session ? this.sql('SELECT 1 FROM person_devices WHERE device = ? AND unlinked_seq IS NOT NULL').get(session.fingerprint) !== undefined : false;
      const head = groupId === null ? null : this.headOf(groupId);
      const view: MemberView = { session: session ? { fingerprint: session.fingerprint, expiresAt: session.expires_at } : null, unlinked, head };
      if (note) view.note = groupId === null ? null : this.noteEnvelope(groupId, note.noteId, note.version);
      return view;
    })();
  }

  async purgeExpired(now: number): Promise<void> {
    this.write(() => {
      this.sql('DELETE FROM challenges WHERE expires_at <= ?').run(now);
      this.sql('DELETE FROM sessions WHERE expires_at <= ?').run(now);
      this.sql('DELETE FROM link_offers WHERE expires_at <= ?').run(now);
    });
  }

  // --- people: device chains ----------------------------------------------------------------

  private chainHead(person: Fingerprint): LogHead | null {
    const row = this.sql('SELECT seq, hash FROM person_heads WHERE person = ?').get(person) as LogHead | undefined;
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  async getChain(person: Fingerprint): Promise<{ entries: DeviceEntry[]; head: LogHead } | null> {
    // One read transaction: the entries and the head are of the same commit.
    return this.db.transaction(() => {
      const head = this.chainHead(person);
      if (!head) return null;
      const rows = this.sql('SELECT entry FROM person_entries WHERE person = ? AND seq <= ? ORDER BY seq').all(person, head.seq) as Array<{ entry: string }>;
      return { entries: rows.map((r) => JSON.parse(r.entry) as DeviceEntry), head };
    })();
  }

  async appendChain(person: Fingerprint, entries: DeviceEntry[], head: LogHead, changes: ChainDeviceChanges): Promise<ChainAppendResult> {
    checkChainAppend(person, entries, head);
    const first = entries[0]!.seq;
    try {
      return this.write((): ChainAppendResult => {
        const current = this.chainHead(person);
        if (current ? current.seq !== first - 1 : first !== 0) return { ok: false, head: current };
        if (current) {
          const moved = this.sql('UPDATE person_heads SET seq = ?, hash = ? WHERE person = ? AND seq = ?').run(head.seq, head.hash, person, current.seq);
          if (moved.changes !== 1) throw new CasConflict('person head moved');
        } else {
          this.sql('INSERT INTO person_heads (person, seq, hash) VALUES (?, ?, ?)').run(person, head.seq, head.hash);
        }
        const insertEntry = this.sql('INSERT INTO person_entries (person, seq, entry) VALUES (?, ?, ?)');
        for (const entry of entries) insertEntry.run(person, entry.seq, JSON.stringify(entry));
        for (const { device } of changes.linked) {
          const holder = this.sql('SELECT person FROM person_devices WHERE device = ?').get(device) as { person: Fingerprint } | undefined;
          if (holder) throw new DeviceClaimed(device, holder.person);
        }
        const link = this.sql('INSERT INTO person_devices (device, person, linked_seq, unlinked_seq) VALUES (?, ?, ?, NULL)');
        for (const { device, seq } of changes.linked) link.run(device, person, seq);
        const unlink = this.sql('UPDATE person_devices SET unlinked_seq = ? WHERE device = ? AND person = ? AND unlinked_seq IS NULL');
        for (const { device, seq } of changes.unlinked) unlink.run(seq, device, person);
        return { ok: true, head: { seq: head.seq, hash: head.hash } };
      });
    } catch (error) {
      if (error instanceof DeviceClaimed) return { ok: false, claimed: { device: error.device, person: error.person } };
      if (isConflict(error)) return { ok: false, head: this.chainHead(person) };
      throw error;
    }
  }

  async deviceStanding(device: Fingerprint): Promise<DeviceStanding | null> {
    const row = this.sql('SELECT person, unlinked_seq FROM person_devices WHERE device = ?').get(device) as { person: Fingerprint; unlinked_seq: number | null } | undefined;
    return row ? { person: row.person, unlinkedSeq: row.unlinked_seq } : null;
  }

  async unlinkedDevices(devices: readonly Fingerprint[]): Promise<Set<Fingerprint>> {
    const unlinked = new Set<Fingerprint>();
    // SQLite binds at most 32766 parameters per statement: 500 devices at a time.
    for (let i = 0; i < devices.length; i += 500) {
      const some = devices.slice(i, i + 500);
      const rows = (some.length === 1 ? this.sql('SELECT device FROM person_devices WHERE unlinked_seq IS NOT NULL AND device = ?') : this.db.prepare(`SELECT device FROM person_devices WHERE unlinked_seq IS NOT NULL AND device IN (${some.map(() => '?').join(',')})`)).all(...some) as Array<{ device: Fingerprint }>;
      for (const row of rows) unlinked.add(row.device);
    }
    return unlinked;
  }

  // --- link offers ------------------------------------------------------------------------------

  async putLinkOffer(lookup: string, device: Fingerprint, bundle: PublicBundle, expiresAt: number, now: number): Promise<boolean> {
    // One statement: the offer is taken, or renewed by its own device, or replaces an expired one.
    const result = this.sql(`INSERT INTO link_offers (lookup, device, bundle, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (lookup) DO UPDATE SET device = excluded.device, bundle = excluded.bundle, expires_at = excluded.expires_at
      WHERE link_offers.device = excluded.device OR link_offers.expires_at <= ?`).run(lookup, device, JSON.stringify(bundle), expiresAt, now);
    return result.changes === 1;
  }

  async findLinkOffer(lookup: string, now: number): Promise<{ bundle: PublicBundle; expiresAt: number } | null> {
    const row = this.sql('SELECT bundle, expires_at FROM link_offers WHERE lookup = ? AND expires_at > ?').get(lookup, now) as { bundle: string; expires_at: number } | undefined;
    return row ? { bundle: JSON.parse(row.bundle) as PublicBundle, expiresAt: row.expires_at } : null;
  }

  // --- group logs ------------------------------------------------------------------------

  private headOf(groupId: GroupId): LogHead | null {
    const row = this.sql('SELECT seq, hash FROM group_heads WHERE group_id = ?').get(groupId) as LogHead | undefined;
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  async getHead(groupId: GroupId): Promise<LogHead | null> {
    return this.headOf(groupId);
  }

  async readLog(groupId: GroupId, fromSeq: number, limit: number, untilSeq?: number): Promise<LogEntry[]> {
    if (limit <= 0) return [];
    const last = Math.min(fromSeq + limit - 1, untilSeq ?? Number.MAX_SAFE_INTEGER);
    if (last < fromSeq) return [];
    const rows = this.sql('SELECT entry FROM log_entries WHERE group_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?').all(
      groupId,
      fromSeq,
      last,
      limit,
    ) as Array<{ entry: string }>;
    return rows.map((r) => JSON.parse(r.entry) as LogEntry);
  }

  async appendEntries(groupId: GroupId, entries: LogEntry[], head: LogHead, indexes: AppendIndexes): Promise<AppendResult> {
    checkAppend(groupId, entries, head);
    const first = entries[0]!.seq;
    try {
      return this.write((): AppendResult => {
        const current = this.headOf(groupId);
        if (current ? current.seq !== first - 1 : first !== 0) return { ok: false, head: current };
        if (current) {
          const moved = this.sql('UPDATE group_heads SET seq = ?, hash = ? WHERE group_id = ? AND seq = ?').run(head.seq, head.hash, groupId, current.seq);
          if (moved.changes !== 1) throw new CasConflict('group head moved');
        } else {
          this.sql('INSERT INTO group_heads (group_id, seq, hash) VALUES (?, ?, ?)').run(groupId, head.seq, head.hash);
        }
        const insertEntry = this.sql('INSERT INTO log_entries (group_id, seq, entry) VALUES (?, ?, ?)');
        for (const entry of entries) insertEntry.run(groupId, entry.seq, JSON.stringify(entry));
        const upsertMembership = this.sql(`INSERT INTO memberships (group_id, fingerprint, status, since_seq, until_seq) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (group_id, fingerprint) DO UPDATE SET status = excluded.status, since_seq = excluded.since_seq, until_seq = excluded.until_seq`);
        for (const m of indexes.memberships) upsertMembership.run(groupId, m.fingerprint, m.status, m.sinceSeq, m.untilSeq);
        // An invite id is a fresh public key: the first group to log it keeps it.
        const insertInvite = this.sql('INSERT INTO invites (invite_id, group_id) VALUES (?, ?) ON CONFLICT (invite_id) DO NOTHING');
        for (const invite of indexes.invites) insertInvite.run(invite.inviteId, groupId);
        this.writeBoxes(indexes.boxes);
        return { ok: true, head: { seq: head.seq, hash: head.hash } };
      });
    } catch (error) {
      if (isConflict(error)) return { ok: false, head: this.headOf(groupId) };
      throw error;
    }
  }

  async groupsOf(fingerprint: Fingerprint): Promise<Array<{ groupId: GroupId; status: MembershipStatus; untilSeq: number | null; head: LogHead }>> {
    const rows = this.sql(`SELECT m.group_id, m.status, m.until_seq, h.seq, h.hash
      FROM memberships m JOIN group_heads h ON h.group_id = m.group_id
      WHERE m.fingerprint = ? ORDER BY m.group_id`).all(fingerprint) as Array<{
      group_id: GroupId;
      status: MembershipStatus;
      until_seq: number | null;
      seq: number;
      hash: string;
    }>;
    return rows.map((r) => ({ groupId: r.group_id, status: r.status, untilSeq: r.until_seq, head: { seq: r.seq, hash: r.hash } as LogHead }));
  }

  async membership(groupId: GroupId, fingerprint: Fingerprint): Promise<{ status: MembershipStatus; untilSeq: number | null } | null> {
    const row = this.sql('SELECT status, until_seq FROM memberships WHERE group_id = ? AND fingerprint = ?').get(groupId, fingerprint) as
      | { status: MembershipStatus; until_seq: number | null }
      | undefined;
    return row ? { status: row.status, untilSeq: row.until_seq } : null;
  }

  async findInvite(inviteId: InviteId): Promise<GroupId | null> {
    const row = this.sql('SELECT group_id FROM invites WHERE invite_id = ?').get(inviteId) as { group_id: GroupId } | undefined;
    return row ? row.group_id : null;
  }

  // --- checkpoints ----------------------------------------------------------------------

  async putCheckpoint(groupId: GroupId, checkpoint: StoredCheckpoint): Promise<void> {
    this.sql(`INSERT INTO group_checkpoints (group_id, seq, hash, format, data) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (group_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, format = excluded.format, data = excluded.data
      WHERE excluded.seq >= group_checkpoints.seq`).run(groupId, checkpoint.seq, checkpoint.hash, checkpoint.format, checkpoint.data);
  }

  async getCheckpoint(groupId: GroupId): Promise<StoredCheckpoint | null> {
    const row = this.sql('SELECT seq, hash, format, data FROM group_checkpoints WHERE group_id = ?').get(groupId) as StoredCheckpoint | undefined;
    return row ? { seq: row.seq, hash: row.hash, format: row.format, data: row.data } : null;
  }

  async deleteCheckpoint(groupId: GroupId, seq?: number): Promise<void> {
    if (seq === undefined) this.sql('DELETE FROM group_checkpoints WHERE group_id = ?').run(groupId);
    else this.sql('DELETE FROM group_checkpoints WHERE group_id = ? AND seq = ?').run(groupId, seq);
  }

  // --- key boxes ---------------------------------------------------------------------------

  /** Upserts boxes, one per (group, generation, recipient, sender); call inside a write transaction. */
  private writeBoxes(boxes: KeyBox[]): void {
    if (boxes.length === 0) return;
    const upsert = this.sql(`INSERT INTO key_boxes (group_id, generation, recipient_kind, recipient_id, sender, box) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (group_id, generation, recipient_kind, recipient_id, sender) DO UPDATE SET box = excluded.box`);
    for (const box of boxes) upsert.run(box.groupId, box.generation, box.recipient.kind, box.recipient.id, box.sender, JSON.stringify(box));
  }

  async putBoxes(boxes: KeyBox[]): Promise<void> {
    this.write(() => this.writeBoxes(boxes));
  }

  async boxesFor(groupId: GroupId, recipient: KeyBox['recipient'], generation?: number): Promise<KeyBox[]> {
    const rows = (
      generation === undefined
        ? this.sql('SELECT box FROM key_boxes WHERE group_id = ? AND recipient_kind = ? AND recipient_id = ? ORDER BY generation, sender').all(
            groupId,
            recipient.kind,
            recipient.id,
          )
        : this.sql('SELECT box FROM key_boxes WHERE group_id = ? AND recipient_kind = ? AND recipient_id = ? AND generation = ? ORDER BY sender').all(
            groupId,
            recipient.kind,
            recipient.id,
            generation,
          )
    ) as Array<{ box: string }>;
    return rows.map((r) => JSON.parse(r.box) as KeyBox);
  }

  async recipientsWithOwnBox(groupId: GroupId, generation: number): Promise<Set<Fingerprint>> {
    const rows = this.sql(
      "SELECT recipient_id FROM key_boxes WHERE group_id = ? AND generation = ? AND recipient_kind = 'member' AND sender = recipient_id",
    ).all(groupId, generation) as Array<{ recipient_id: Fingerprint }>;
    return new Set(rows.map((r) => r.recipient_id));
  }

  // --- key requests -------------------------------------------------------------------------

  async putKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number, at: number): Promise<void> {
    this.sql(`INSERT INTO key_requests (group_id, fingerprint, generation, requested_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (group_id, fingerprint) DO UPDATE SET generation = excluded.generation, requested_at = excluded.requested_at`).run(
      groupId,
      fingerprint,
      generation,
      at,
    );
  }

  async keyRequests(groupId: GroupId): Promise<Array<{ fingerprint: Fingerprint; generation: number; requestedAt: number }>> {
    const rows = this.sql('SELECT fingerprint, generation, requested_at FROM key_requests WHERE group_id = ? ORDER BY requested_at, fingerprint').all(groupId) as Array<{
      fingerprint: Fingerprint;
      generation: number;
      requested_at: number;
    }>;
    return rows.map((r) => ({ fingerprint: r.fingerprint, generation: r.generation, requestedAt: r.requested_at }));
  }

  async deleteKeyRequest(groupId: GroupId, fingerprint: Fingerprint, generation: number): Promise<void> {
    this.sql('DELETE FROM key_requests WHERE group_id = ? AND fingerprint = ? AND generation <= ?').run(groupId, fingerprint, generation);
  }

  // --- notes ----------------------------------------------------------------------------------

  private currentVersion(groupId: GroupId, noteId: NoteId): number {
    const row = this.sql('SELECT version FROM note_heads WHERE group_id = ? AND note_id = ?').get(groupId, noteId) as { version: number } | undefined;
    return row?.version ?? 0;
  }

  /**
   * Group commit: a put waits for the next turn of the event loop, and every put that
   * arrived by then is written in one `BEGIN IMMEDIATE` transaction, one savepoint each
   * (a put that fails rolls back alone), so they share one WAL sync. Each put's promise
   * resolves only after that commit, so an acknowledged put is as durable as before.
   */
  async putNoteVersion(envelope: NoteEnvelope, header: NoteHeader, checkedAt?: LogHead): Promise<NotePutResult> {
    checkNote(envelope, header);
    return new Promise((resolve, reject) => {
      this.pendingPuts.push({ envelope, header, checkedAt, resolve, reject });
      if (this.pendingPuts.length === 1) setImmediate(() => this.flushPuts());
    });
  }

  /** Writes every pending put in one transaction (see `putNoteVersion`). */
  private flushPuts(): void {
    const batch = this.pendingPuts.splice(0);
    if (batch.length === 0) return;
    let outcomes: Array<{ result: NotePutResult } | { error: unknown }>;
    try {
      if (!this.db.open) throw new Error('the store is closed');
      outcomes = this.write(() =>
        batch.map((put) => {
          try {
            return { result: this.putOne(put.envelope, put.header, put.checkedAt) };
          } catch (error) {
            return { error };
          }
        }),
      );
    } catch (error) {
      // The transaction did not commit: none of the batch was written.
      for (const put of batch) put.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) => {
      const put = batch[i]!;
      if ('result' in outcome) put.resolve(outcome.result);
      else if (isConflict(outcome.error)) put.resolve({ ok: false, currentVersion: this.currentVersion(put.envelope.groupId, put.envelope.noteId) });
      else put.reject(outcome.error);
    });
  }

  /** One put inside the batch's transaction; a nested transaction is a savepoint, rolled back alone when it throws. */
  private readonly putOne = (envelope: NoteEnvelope, header: NoteHeader, checkedAt: LogHead | undefined): NotePutResult =>
    this.db.transaction((): NotePutResult => {
      const { groupId, noteId, version } = envelope;
      // Under the write lock: no append can move the head before this commits.
      if (checkedAt) {
        const head = this.headOf(groupId);
        if (!head || head.seq !== checkedAt.seq || head.hash !== checkedAt.hash) return { ok: false, staleHead: true };
      }
      // Unlinking is a chain append, not a group append: checked here too, under the same write lock.
      if (this.sql('SELECT 1 FROM person_devices WHERE device = ? AND unlinked_seq IS NOT NULL').get(envelope.author) !== undefined) return { ok: false, unlinked: true };
      const current = this.currentVersion(groupId, noteId);
      if (version !== current + 1) return { ok: false, currentVersion: current };
      const { value: cursor } = this.sql("UPDATE counters SET value = value + 1 WHERE name = 'note_change' RETURNING value").get() as { value: number };
      this.sql('INSERT INTO note_versions (group_id, note_id, version, change_id, envelope) VALUES (?, ?, ?, ?, ?)').run(groupId, noteId, version, cursor, JSON.stringify(envelope));
      if (current === 0) {
        this.sql('INSERT INTO note_heads (group_id, note_id, version, change_id, header) VALUES (?, ?, ?, ?, ?)').run(groupId, noteId, version, cursor, JSON.stringify(header));
      } else {
        const moved = this.sql('UPDATE note_heads SET version = ?, change_id = ?, header = ? WHERE group_id = ? AND note_id = ? AND version = ?').run(
          version,
          cursor,
          JSON.stringify(header),
          groupId,
          noteId,
          current,
        );
        // Unreachable under the write lock; throwing rolls the savepoint back.
        if (moved.changes !== 1) throw new CasConflict('note head moved');
      }
      return { ok: true, cursor };
    })();

  async getNote(groupId: GroupId, noteId: NoteId, version?: number): Promise<NoteEnvelope | null> {
    return this.noteEnvelope(groupId, noteId, version);
  }

  private noteEnvelope(groupId: GroupId, noteId: NoteId, version?: number): NoteEnvelope | null {
    const row = (
      version === undefined
        ? this.sql(`SELECT v.envelope FROM note_heads h JOIN note_versions v
            ON v.group_id = h.group_id AND v.note_id = h.note_id AND v.version = h.version
            WHERE h.group_id = ? AND h.note_id = ?`).get(groupId, noteId)
        : this.sql('SELECT envelope FROM note_versions WHERE group_id = ? AND note_id = ? AND version = ?').get(groupId, noteId, version)
    ) as { envelope: string } | undefined;
    return row ? (JSON.parse(row.envelope) as NoteEnvelope) : null;
  }

  async listNotes(groupId: GroupId, since: number, limit: number): Promise<StoredNoteHeader[]> {
    if (limit <= 0) return [];
    const rows = this.sql('SELECT header, change_id FROM note_heads WHERE group_id = ? AND change_id > ? ORDER BY change_id LIMIT ?').all(groupId, since, limit) as Array<{
      header: string;
      change_id: number;
    }>;
    return rows.map((r) => ({ header: JSON.parse(r.header) as NoteHeader, cursor: r.change_id }));
  }

  async noteCursor(groupId: GroupId): Promise<number> {
    const row = this.sql('SELECT MAX(change_id) AS cursor FROM note_heads WHERE group_id = ?').get(groupId) as { cursor: number | null };
    return row.cursor ?? 0;
  }

  async noteCursors(groupIds: readonly GroupId[]): Promise<Map<GroupId, number>> {
    const cursors = new Map<GroupId, number>(groupIds.map((id) => [id, 0]));
    // SQLite binds at most 32766 parameters per statement: 500 ids at a time.
    for (let i = 0; i < groupIds.length; i += 500) {
      const ids = groupIds.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT group_id, MAX(change_id) AS cursor FROM note_heads WHERE group_id IN (${ids.map(() => '?').join(',')}) GROUP BY group_id`).all(...ids) as Array<{ group_id: GroupId; cursor: number }>;
      for (const row of rows) cursors.set(row.group_id, row.cursor);
    }
    return cursors;
  }
}
