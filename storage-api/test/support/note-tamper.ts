/**
 * Playing a dishonest operator of the storage API's notes: edits made to the SQLite file
 * behind the running API's back (better-sqlite3 on the same file, as e2e/support/tamper.ts
 * does for the log). Table and column names are those of src/store/sqlite.ts.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { NoteEnvelope } from '@conclave/shared/protocol';
import type { TestServer } from './server.ts';

/** The operator's hands on the database file (table names of src/store/sqlite.ts). */
export class NoteOperator {
  constructor(private readonly server: TestServer) {}

  private run<T>(work: (db: Database.Database) => T): T {
    const db = new Database(join(this.server.dataDir!, 'conclave.sqlite'));
    try {
      db.pragma('busy_timeout = 5000');
      return db.transaction(() => work(db))();
    } finally {
      db.close();
    }
  }

  versions(groupId: GroupId, noteId: NoteId): NoteEnvelope[] {
    return this.run((db) =>
      (db.prepare('SELECT envelope FROM note_versions WHERE group_id = ? AND note_id = ? ORDER BY version').all(groupId, noteId) as Array<{ envelope: string }>).map(
        (r) => JSON.parse(r.envelope) as NoteEnvelope,
      ),
    );
  }

  /** Makes `envelope` the stored version `envelope.version` and the note's newest, dropping later ones, listed as a fresh change. */
  setNewest(envelope: NoteEnvelope): void {
    const { body, ...rest } = envelope;
    const header = JSON.stringify({ ...rest, bodyBytes: Buffer.from(body, 'base64url').length });
    this.run((db) => {
      const { value } = db.prepare("UPDATE counters SET value = value + 1 WHERE name = 'note_change' RETURNING value").get() as { value: number };
      db.prepare('DELETE FROM note_versions WHERE group_id = ? AND note_id = ? AND version >= ?').run(envelope.groupId, envelope.noteId, envelope.version);
      db.prepare('INSERT INTO note_versions (group_id, note_id, version, change_id, envelope) VALUES (?, ?, ?, ?, ?)').run(envelope.groupId, envelope.noteId, envelope.version, value, JSON.stringify(envelope));
      db.prepare('DELETE FROM note_heads WHERE group_id = ? AND note_id = ?').run(envelope.groupId, envelope.noteId);
      db.prepare('INSERT INTO note_heads (group_id, note_id, version, change_id, header) VALUES (?, ?, ?, ?, ?)').run(envelope.groupId, envelope.noteId, envelope.version, value, header);
    });
  }

  /** Forgets every version after `version` and lists the older one as the newest. */
  rollBack(groupId: GroupId, noteId: NoteId, version: number): void {
    this.setNewest(this.versions(groupId, noteId)[version - 1]!);
  }

  /** Drops a note entirely, with no deletion. */
  vanish(groupId: GroupId, noteId: NoteId): void {
    this.run((db) => {
      db.prepare('DELETE FROM note_versions WHERE group_id = ? AND note_id = ?').run(groupId, noteId);
      db.prepare('DELETE FROM note_heads WHERE group_id = ? AND note_id = ?').run(groupId, noteId);
    });
  }
}
