/**
 * `NoteStore` (shared/src/client/note-store.ts) over the public `seenNotes` table: what
 * this device has verified of each note, kept across service-worker restarts, so the
 * side panel can say when the server rewinds or hides a note. One row per note, and
 * one per group under the reserved note id '' with the log position tracking began at.
 * Written only forward, inside a transaction (the client and the notes cache both write).
 */
import { supersedes, type NoteStore, type SeenNote } from '@conclave/shared/client';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { ConclaveDb, NoteTrackRow, SeenNoteRow } from './schema.ts';

const TRACK = '';

function seenOf(row: SeenNoteRow | NoteTrackRow | undefined): SeenNote | undefined {
  if (!row || row.noteId === TRACK) return undefined;
  const { groupId: _groupId, ...seen } = row as SeenNoteRow;
  return seen;
}

export class DexieNoteStore implements NoteStore {
  constructor(private readonly db: ConclaveDb) {}

  private async trackRow(groupId: GroupId): Promise<NoteTrackRow | undefined> {
    return (await this.db.seenNotes.get([groupId, TRACK])) as NoteTrackRow | undefined;
  }

  async trackedFrom(groupId: GroupId): Promise<number | undefined> {
    return (await this.trackRow(groupId))?.trackedFrom;
  }

  async track(groupId: GroupId, seq: number): Promise<void> {
    await this.db.transaction('rw', this.db.seenNotes, async () => {
      if (!(await this.trackRow(groupId))) await this.db.seenNotes.put({ groupId, noteId: TRACK, trackedFrom: seq });
    });
  }

  async get(groupId: GroupId, noteIds: readonly NoteId[]): Promise<Array<SeenNote | undefined>> {
    if (noteIds.length === 0) return [];
    return (await this.db.seenNotes.bulkGet(noteIds.map((id) => [groupId, id] as [GroupId, string]))).map(seenOf);
  }

  async all(groupId: GroupId): Promise<SeenNote[]> {
    const rows = await this.db.seenNotes.where('groupId').equals(groupId).toArray();
    return rows.map(seenOf).filter((seen): seen is SeenNote => seen !== undefined);
  }

  async record(groupId: GroupId, notes: readonly SeenNote[]): Promise<void> {
    if (notes.length === 0) return;
    await this.db.transaction('rw', this.db.seenNotes, async () => {
      const current = await this.get(groupId, notes.map((n) => n.noteId));
      const fresh = notes.filter((n, i) => supersedes(n, current[i])).map((n): SeenNoteRow => ({ ...n, groupId }));
      if (fresh.length > 0) await this.db.seenNotes.bulkPut(fresh);
      if (!(await this.trackRow(groupId))) await this.db.seenNotes.put({ groupId, noteId: TRACK, trackedFrom: Math.min(...notes.map((n) => n.seenAtSeq)) });
    });
  }

  async forget(groupId: GroupId): Promise<void> {
    await this.db.seenNotes.where('groupId').equals(groupId).delete();
  }

  /** When the server's whole note list was last compared with what this device saw (0: never). */
  async fullCheckAt(groupId: GroupId): Promise<number> {
    return (await this.trackRow(groupId))?.fullCheckAt ?? 0;
  }

  async markFullCheck(groupId: GroupId, at: number, seq: number): Promise<void> {
    await this.db.transaction('rw', this.db.seenNotes, async () => {
      const row = await this.trackRow(groupId);
      await this.db.seenNotes.put({ ...(row ?? { groupId, noteId: TRACK, trackedFrom: seq }), fullCheckAt: at });
    });
  }
}
