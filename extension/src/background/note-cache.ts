/**
 * The notes cache (the secret `notes` table): each note's newest version this device
 * opened — decrypted title, author, time, deleted, and its text sealed at rest under
 * the device key (what a removed member still reads, note-requests.ts) — or why it
 * could not be opened.
 * Lists, search and unread counts answer from it; the server is asked only for what
 * changed since the group's `notesCursor`:
 *
 * 1. headers changed after the cursor (no bodies, a few large pages);
 * 2. of those, only versions this device has not opened yet are fetched and opened
 *    (a note this device just wrote is already cached at its version: not fetched);
 * 3. when the keys held or the log changed since the cache was built (its stamp), the
 *    cached failures are opened again — a note written with a key that has just
 *    arrived becomes readable, and one from a member this device had not yet seen;
 * 4. rows are written only forward: a listed version older than the cached one is a
 *    rollback by the server, kept out (the row is marked `rolledBackTo`);
 * 5. every version is opened by the SDK (`GroupClient.refresh`, `changedNotes` with an
 *    optional handover in the same sync) with this device's
 *    memory of notes (db/note-store.ts): a version that breaks the chain, forks from what
 *    this device saw, or goes back a generation is a failure row by name; a late version
 *    by a departed member is marked `lateFromDeparted`; and at most every FULL_CHECK_MS
 *    the whole list is compared with what this device saw, so a note the server dropped
 *    without a signed deletion becomes a `vanished` row (its title kept).
 *
 * The SDK syncs the log once inside that call (a forked or rolled-back log raises the
 * alarm before anything is listed); the background never syncs before it. Meta notes
 * are cached under their reserved title; a newly opened one teaches its name (names.ts).
 */
import type { ChangedNotes, HandoverResult } from '@conclave/shared/client';
import type { MetaSlot } from '@conclave/shared/crypto';
import type { NoteHeader } from '@conclave/shared/protocol';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { advanceNotesCursor } from '../db/key-store.ts';
import { DexieNoteStore } from '../db/note-store.ts';
import type { GroupRow, NoteRow } from '../db/schema.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { groupRow, viaClient } from './group-state.ts';
import { learnFromMeta } from './names.ts';
import { cachedVersions, failedRows, keepNewer, markRolledBack, markVanished, openedRowWithBody } from './note-rows.ts';

/** How often the whole note list (headers only) is compared with what this device saw. */
export const FULL_CHECK_MS = 10 * 60_000;

/** What the cache was built with: the generations held and the log's length. */
export function cacheStamp(row: Pick<GroupRow, 'seeds' | 'state'>): string {
  const generations = [...row.seeds.keys()].sort((a, b) => a - b).join(',');
  return `${generations}|${row.state.hashes.length}`;
}

export interface Refresh {
  /** The cursor listed from (0 when the cache was rebuilt) and the one it moved to. */
  since: number;
  cursor: number;
  /** The headers the server listed after `since` (unverified: used to count, never shown). */
  headers: NoteHeader[];
  /** Of those, the notes others changed (not deleted, not meta notes). */
  unread: number;
  state: ChangedNotes['state'];
  meta: Map<NoteId, MetaSlot>;
  /** Cache rows written (new, changed or newly readable notes). */
  written: number;
  /** Notes the server listed at a version older than the cached one. */
  rollbacks: number;
  /** Notes this device saw that a full listing no longer has, without a signed deletion. */
  vanished: number;
  /** True when a name (of the group or a member) changed. */
  namesChanged: boolean;
  /** The key handover done in the same SDK call (`handOver`, on an admin device), or null. */
  handover: HandoverResult | null;
}

/**
 * Brings a group's notes cache up to date with the server (see the module note): one
 * SDK call, then the cache rows.
 * @param options.handOver also answer the key mailbox in the same SDK call, when this
 *   device is an admin on the synced log (the tick's upkeep: one sync for both).
 * @throws the storage API's errors (nothing is written then, and the cursor stays);
 *   {BackgroundError} `fork` or `removed`; the SDK's `no-key`.
 */
export async function refreshNotes(ctx: Ctx, connection: Connection, groupId: GroupId, options: { handOver?: boolean } = {}): Promise<Refresh> {
  const before = await groupRow(ctx, groupId);
  const since = before.notesStamp === undefined ? 0 : before.notesCursor;
  const seenNotes = new DexieNoteStore(ctx.db);
  const fullCheck = since !== 0 && ctx.now() - (await seenNotes.fullCheckAt(groupId)) >= FULL_CHECK_MS;
  let stamp = cacheStamp(before);
  const changes = await viaClient(ctx, connection, groupId, () =>
    connection.client.refresh(groupId, since, {
      handOver: options.handOver ?? false,
      known: (ids) => cachedVersions(ctx, groupId, ids),
      // Asked after the SDK's sync: when the keys held or the log changed since the cache
      // was built, the cached failures are opened again at their version.
      reopen: async () => {
        const row = await groupRow(ctx, groupId);
        stamp = cacheStamp(row);
        if (row.notesStamp === stamp) return [];
        return (await failedRows(ctx, groupId)).map(({ noteId, version, author, at }) => ({ noteId, version, author, at }));
      },
      fullCheck,
    }),
  );
  const { state, meta } = changes;

  // Each opened text is kept sealed at rest (side by side: WebCrypto works on them in parallel).
  const opened = await Promise.all(
    changes.opened.map(async (note) => {
      const late = note.warnings.some((w) => w.code === 'late-from-departed');
      return { ...(await openedRowWithBody(ctx, groupId, note, meta.get(note.noteId))), ...(late ? { lateFromDeparted: true } : {}) };
    }),
  );
  const rows: NoteRow[] = [
    ...opened,
    ...changes.failed.map((f): NoteRow => ({ groupId, noteId: f.noteId, version: f.version, title: '', author: f.author, at: f.at, deleted: false, failure: f.reason, failureMessage: f.message })),
  ];

  let written = 0;
  let rollbacks = 0;
  let vanished = 0;
  await ctx.db.transaction('rw', ['notes', 'groups'], async () => {
    written = await keepNewer(ctx, rows);
    vanished = await markVanished(ctx, groupId, changes.vanished);
    rollbacks = await markRolledBack(ctx, groupId, changes.older);
    await advanceNotesCursor(ctx.db, groupId, changes.cursor, stamp);
  });
  if (changes.fullChecked) await seenNotes.markFullCheck(groupId, ctx.now(), state.seq);
  if (rollbacks > 0) console.warn(`conclave: the storage API listed ${rollbacks} note(s) at an older version than this device already read; the newer ones are kept`);
  if (vanished > 0) console.warn(`conclave: the storage API no longer lists ${vanished} note(s) this device saw, without a signed deletion`);

  const namesChanged = await learnFromMeta(ctx, groupId, changes.names);
  return { since, cursor: changes.cursor, headers: changes.headers, unread: changes.unread, state, meta, written, rollbacks, vanished, namesChanged, handover: changes.handover };
}
