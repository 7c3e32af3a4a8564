/**
 * Which way the group key reached a member, read from the storage API's SQLite file
 * (table key_boxes, storage-api/src/store/sqlite.ts: one row per sender and recipient):
 *
 * - live (peer to peer): the member's device keeps a seed handed over the data channel
 *   and then stores a box sealed to itself (GroupClient.acceptHandedKey) — a box whose
 *   sender is its recipient;
 * - mailbox: the member's device opened a box another member sealed to it, and never
 *   sealed one to itself.
 *
 * The boxes are ciphertext: only who sealed them to whom is read.
 */
import Database from 'better-sqlite3';

export type KeyPath = 'live' | 'mailbox' | 'none';

/** The senders of the boxes the server holds for `member` (a device fingerprint) in `groupId`. */
export function boxSendersFor(sqlitePath: string, groupId: string, member: string): string[] {
  const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const rows = db
      .prepare("SELECT sender FROM key_boxes WHERE group_id = ? AND recipient_kind = 'member' AND recipient_id = ? ORDER BY generation, sender")
      .all(groupId, member) as Array<{ sender: string }>;
    return rows.map((r) => r.sender);
  } finally {
    db.close();
  }
}

/** How the key reached `member`: its own box means live; only others' boxes, the mailbox. */
export function keyPathOf(sqlitePath: string, groupId: string, member: string): KeyPath {
  const senders = boxSendersFor(sqlitePath, groupId, member);
  if (senders.includes(member)) return 'live';
  return senders.length > 0 ? 'mailbox' : 'none';
}
