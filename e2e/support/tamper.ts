/**
 * Playing a dishonest operator of the storage API's database: edits made to the SQLite
 * file behind the running API's back (better-sqlite3 on the same file; the API keeps
 * it open in WAL mode). Table and column names are those of storage-api/src/store/sqlite.ts.
 */
import Database from 'better-sqlite3';
import { generateIdentity, singleDeviceChain } from '@conclave/shared/crypto';
import { entryHash } from '@conclave/shared/crypto';
import { fromBase64url, toBase64url } from '@conclave/shared/protocol';
import type { LogEntry } from '@conclave/shared/protocol';

function open(sqlitePath: string): Database.Database {
  const db = new Database(sqlitePath);
  db.pragma('busy_timeout = 5000');
  return db;
}

/** The group ids stored (one in this story). */
export function groupIds(sqlitePath: string): string[] {
  const db = open(sqlitePath);
  try {
    return (db.prepare('SELECT group_id FROM group_heads ORDER BY group_id').all() as Array<{ group_id: string }>).map((r) => r.group_id);
  } finally {
    db.close();
  }
}

/** Every current note version of a group: ids, versions and their envelope's body length. */
export function noteVersions(sqlitePath: string, groupId: string): Array<{ noteId: string; version: number; changeId: number }> {
  const db = open(sqlitePath);
  try {
    return db
      .prepare('SELECT note_id AS noteId, version, change_id AS changeId FROM note_heads WHERE group_id = ? ORDER BY change_id')
      .all(groupId) as Array<{ noteId: string; version: number; changeId: number }>;
  } finally {
    db.close();
  }
}

/**
 * Flips one byte of a stored note's ciphertext (the body of its newest version's
 * envelope), leaving its signature, header and ids as they were.
 * @returns which byte of the body was changed.
 */
export function flipNoteCiphertextByte(sqlitePath: string, groupId: string, noteId: string): { version: number; byte: number } {
  const db = open(sqlitePath);
  try {
    const row = db
      .prepare('SELECT v.version, v.envelope FROM note_heads h JOIN note_versions v ON v.group_id = h.group_id AND v.note_id = h.note_id AND v.version = h.version WHERE h.group_id = ? AND h.note_id = ?')
      .get(groupId, noteId) as { version: number; envelope: string } | undefined;
    if (!row) throw new Error(`note ${noteId} is not stored`);
    const envelope = JSON.parse(row.envelope) as { body: string };
    const body = new Uint8Array(fromBase64url(envelope.body));
    // A byte of the ciphertext proper: after the 12-byte nonce, before the 16-byte tag.
    const byte = 12 + Math.floor((body.length - 28) / 2);
    body[byte] = body[byte]! ^ 0x01;
    envelope.body = toBase64url(body);
    const changed = db
      .prepare('UPDATE note_versions SET envelope = ? WHERE group_id = ? AND note_id = ? AND version = ?')
      .run(JSON.stringify(envelope), groupId, noteId, row.version).changes;
    if (changed !== 1) throw new Error('the note was not changed');
    return { version: row.version, byte };
  } finally {
    db.close();
  }
}

function readLog(db: Database.Database, groupId: string): LogEntry[] {
  return (db.prepare('SELECT entry FROM log_entries WHERE group_id = ? ORDER BY seq').all(groupId) as Array<{ entry: string }>).map((r) => JSON.parse(r.entry) as LogEntry);
}

/** An `add` entry making a stranger an admin, shaped like a real one but not signed (64 zero bytes). */
async function forgedAdd(template: LogEntry, seq: number, prev: string): Promise<{ entry: LogEntry; member: string }> {
  const stranger = await generateIdentity();
  const entry = {
    v: template.v,
    groupId: template.groupId,
    seq,
    prev,
    author: template.author,
    at: Date.now(),
    op: 'add',
    body: { member: await singleDeviceChain(stranger), role: 'admin' },
    sig: toBase64url(new Uint8Array(64)),
  } as unknown as LogEntry;
  return { entry, member: stranger.fingerprint };
}

export interface Forged {
  seq: number;
  /** The stranger the entry claims to add. */
  member: string;
  /** Puts the database back as it was. */
  undo(): void;
}

/**
 * Appends an unsigned `add` entry after the head and moves the head to it, as a
 * database-level attacker must for the API to serve it.
 */
export async function appendUnsignedMember(sqlitePath: string, groupId: string): Promise<Forged> {
  const db = open(sqlitePath);
  try {
    const log = readLog(db, groupId);
    const head = log.at(-1)!;
    const before = db.prepare('SELECT seq, hash FROM group_heads WHERE group_id = ?').get(groupId) as { seq: number; hash: string };
    const { entry, member } = await forgedAdd(head, head.seq + 1, entryHash(head));
    db.transaction(() => {
      db.prepare('INSERT INTO log_entries (group_id, seq, entry) VALUES (?, ?, ?)').run(groupId, entry.seq, JSON.stringify(entry));
      db.prepare('UPDATE group_heads SET seq = ?, hash = ? WHERE group_id = ?').run(entry.seq, entryHash(entry), groupId);
    })();
    return {
      seq: entry.seq,
      member,
      undo() {
        const again = open(sqlitePath);
        try {
          again.transaction(() => {
            again.prepare('DELETE FROM log_entries WHERE group_id = ? AND seq = ?').run(groupId, entry.seq);
            again.prepare('UPDATE group_heads SET seq = ?, hash = ? WHERE group_id = ?').run(before.seq, before.hash, groupId);
          })();
        } finally {
          again.close();
        }
      },
    };
  } finally {
    db.close();
  }
}

/**
 * Puts an unsigned `add` entry in place of the newest log entry (same seq, linked to
 * the entry before it); the head row is left alone, so the running API — which
 * validated the genuine entry and keeps that state — serves the forged row as it is.
 */
export async function replaceHeadWithUnsignedMember(sqlitePath: string, groupId: string): Promise<Forged> {
  const db = open(sqlitePath);
  try {
    const log = readLog(db, groupId);
    const head = log.at(-1)!;
    const previous = log.at(-2)!;
    const { entry, member } = await forgedAdd(head, head.seq, entryHash(previous));
    const original = JSON.stringify(head);
    db.prepare('UPDATE log_entries SET entry = ? WHERE group_id = ? AND seq = ?').run(JSON.stringify(entry), groupId, head.seq);
    return {
      seq: head.seq,
      member,
      undo() {
        const again = open(sqlitePath);
        try {
          again.prepare('UPDATE log_entries SET entry = ? WHERE group_id = ? AND seq = ?').run(original, groupId, head.seq);
        } finally {
          again.close();
        }
      },
    };
  } finally {
    db.close();
  }
}
