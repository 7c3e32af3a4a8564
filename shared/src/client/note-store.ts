/**
 * What a device remembers of each group's notes (DESIGN §5), so a server cannot rewind
 * a note, swap it for another at a version already seen, or make it vanish without a
 * signed deletion: per note, the newest version this device has verified — its hash,
 * generation, author, whether it is a deletion, and the log position at which this
 * device first saw it — and per group the log position from which it started keeping
 * track. Hashes and numbers only: no title, no body, no key.
 *
 * The extension implements `NoteStore` over IndexedDB; `MemoryNoteStore` is the default
 * for tests and short-lived tools.
 */
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';

/** The newest version of one note this device has verified. */
export interface SeenNote {
  noteId: NoteId;
  version: number;
  /** `noteVersionHash` of that version's envelope. */
  hash: string;
  generation: number;
  author: Fingerprint;
  /** A signed deletion (tombstone). */
  deleted: boolean;
  /** The sequence number of this device's validated log when it first saw this version. */
  seenAtSeq: number;
}

/** Persistence for what `GroupClient` has seen of notes. Implementations store copies. */
export interface NoteStore {
  /** The log sequence number from which this device has tracked the group's notes (undefined: not yet). */
  trackedFrom(groupId: GroupId): Promise<number | undefined>;
  /** Starts tracking at `seq`; does nothing when the group is already tracked. */
  track(groupId: GroupId, seq: number): Promise<void>;
  /** What was seen of some notes, in the order asked (undefined where nothing). */
  get(groupId: GroupId, noteIds: readonly NoteId[]): Promise<Array<SeenNote | undefined>>;
  /** Every note seen in a group. */
  all(groupId: GroupId): Promise<SeenNote[]>;
  /**
   * Records versions seen, only forward: a record replaces one of a lower version, never
   * one of a higher version (another caller may have recorded a newer one meanwhile).
   */
  record(groupId: GroupId, notes: readonly SeenNote[]): Promise<void>;
  /** Forgets a group (after leaving). */
  forget(groupId: GroupId): Promise<void>;
}

/** Whether `next` may replace `current` in a store: a newer version (the same one is left as first seen). */
export function supersedes(next: SeenNote, current: SeenNote | undefined): boolean {
  return !current || next.version > current.version;
}

/** A `NoteStore` in memory (it clones on the way in and out, as IndexedDB would). */
export class MemoryNoteStore implements NoteStore {
  private readonly groups = new Map<GroupId, { from: number; notes: Map<NoteId, SeenNote> }>();

  async trackedFrom(groupId: GroupId): Promise<number | undefined> {
    return this.groups.get(groupId)?.from;
  }

  async track(groupId: GroupId, seq: number): Promise<void> {
    if (!this.groups.has(groupId)) this.groups.set(groupId, { from: seq, notes: new Map() });
  }

  async get(groupId: GroupId, noteIds: readonly NoteId[]): Promise<Array<SeenNote | undefined>> {
    const notes = this.groups.get(groupId)?.notes;
    return noteIds.map((id) => {
      const seen = notes?.get(id);
      return seen ? { ...seen } : undefined;
    });
  }

  async all(groupId: GroupId): Promise<SeenNote[]> {
    return [...(this.groups.get(groupId)?.notes.values() ?? [])].map((seen) => ({ ...seen }));
  }

  async record(groupId: GroupId, notes: readonly SeenNote[]): Promise<void> {
    if (notes.length === 0) return;
    let group = this.groups.get(groupId);
    if (!group) {
      group = { from: Math.min(...notes.map((n) => n.seenAtSeq)), notes: new Map() };
      this.groups.set(groupId, group);
    }
    for (const note of notes) if (supersedes(note, group.notes.get(note.noteId))) group.notes.set(note.noteId, { ...note });
  }

  async forget(groupId: GroupId): Promise<void> {
    this.groups.delete(groupId);
  }
}
