/**
 * Child process for storage-api/test/durability.node.test.ts. Opens a SqliteStore in
 * the directory given as argv[2] and writes until it is killed: bursts of concurrent
 * log appends and note puts, several competing for each position. After each write the
 * store ACKNOWLEDGES (its promise resolves ok), it prints one JSON line to stdout with
 * everything needed to check the write later, including the exact JSON written.
 *
 * Run as `node --import tsx durability-writer.ts <dir>` so the process the test kills
 * is the one holding the database (npx would leave a grandchild writing).
 */
import { randomBytes } from 'node:crypto';
import { toBase64url, base64urlByteLength } from '@conclave/shared/protocol';
import type { EntryHash, Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { LogEntry, NoteEnvelope } from '@conclave/shared/protocol';
import { entryHash } from '@conclave/shared/crypto';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { PROTOCOL_VERSION } from '@conclave/shared/protocol';

export type Ack =
  | { t: 'entry'; groupId: GroupId; seq: number; json: string; head: { seq: number; hash: string } }
  | { t: 'note'; groupId: GroupId; noteId: NoteId; version: number; cursor: number; json: string };

const dir = process.argv[2];
if (!dir) throw new Error('usage: durability-writer.ts <dataDir>');

const b64 = (n: number) => toBase64url(randomBytes(n));
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const fingerprint = () => Array.from(randomBytes(52), (b) => BASE32[b & 31]).join('') as Fingerprint;

/**
 * Printed only after the store's promise resolved, i.e. after the commit. (Writes to a
 * pipe are synchronous on Linux; were one still buffered at SIGKILL, that ack would
 * merely go unchecked, never be claimed falsely.)
 */
function ack(line: Ack): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const GROUPS = 4;
const NOTES = 8;
const COMPETITORS = 3;

const store = new SqliteStore(dir);
await store.migrate();

const groupIds = Array.from({ length: GROUPS }, () => b64(16) as GroupId);
const heads = new Map<GroupId, { seq: number; hash: EntryHash } | null>(groupIds.map((g) => [g, null]));
const notes = Array.from({ length: NOTES }, () => ({ groupId: groupIds[0]!, noteId: b64(16) as NoteId, version: 0 }));
const author = fingerprint();

async function appendOne(groupId: GroupId): Promise<void> {
  const head = heads.get(groupId) ?? null;
  const seq = head ? head.seq + 1 : 0;
  await Promise.all(
    Array.from({ length: COMPETITORS }, async () => {
      const entry: LogEntry = {
        v: PROTOCOL_VERSION,
        groupId,
        seq,
        prev: head?.hash ?? null,
        author,
        at: Date.now(),
        op: 'rotate',
        body: { rotation: { generation: seq + 1, seedCommitment: b64(32), links: [{ generation: seq, wrap: b64(60) }] } },
        sig: b64(64),
      };
      const newHead = { seq, hash: entryHash(entry) };
      const result = await store.appendEntries(groupId, [entry], newHead, { memberships: [], invites: [], boxes: [] });
      if (result.ok) {
        heads.set(groupId, newHead);
        ack({ t: 'entry', groupId, seq, json: JSON.stringify(entry), head: newHead });
      }
    }),
  );
}

async function putOne(note: (typeof notes)[number]): Promise<void> {
  const version = note.version + 1;
  await Promise.all(
    Array.from({ length: COMPETITORS }, async () => {
      const envelope: NoteEnvelope = {
        v: PROTOCOL_VERSION,
        groupId: note.groupId,
        noteId: note.noteId,
        version,
        generation: 0,
        author,
        at: Date.now(),
        deleted: false,
        prev: version === 1 ? null : b64(32),
        wrappedKey: b64(60),
        title: b64(60),
        body: b64(2000 + Math.floor(Math.random() * 2000)),
        sig: b64(64),
      };
      const { body, ...rest } = envelope;
      const result = await store.putNoteVersion(envelope, { ...rest, bodyBytes: base64urlByteLength(body) });
      if (result.ok) {
        note.version = version;
        ack({ t: 'note', groupId: note.groupId, noteId: note.noteId, version, cursor: result.cursor, json: JSON.stringify(envelope) });
      }
    }),
  );
}

for (;;) {
  await Promise.all([...groupIds.map((g) => appendOne(g)), ...notes.map((n) => putOne(n))]);
}
