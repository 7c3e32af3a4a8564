/**
 * `KeyStore` (shared/src/client) over the `groups` table: the validated log state,
 * the pinned head and the seeds, kept across service-worker restarts. Seeds are
 * sealed under the device key on the way in and opened on the way out (db/at-rest.ts),
 * so the table never holds one in clear. The extension's own fields of a row (name,
 * alarm, cursors) are left as they are.
 */
import type { GroupRecord, KeyStore } from '@conclave/shared/client';
import type { GroupId } from '@conclave/shared/protocol';
import { openSeeds, sealSeeds } from './at-rest.ts';
import type { ConclaveDb, GroupRow } from './schema.ts';

export class DexieKeyStore implements KeyStore {
  constructor(private readonly db: ConclaveDb) {}

  async load(groupId: GroupId): Promise<GroupRecord | undefined> {
    const row = await this.db.groups.get(groupId);
    if (!row) return undefined;
    return {
      groupId: row.groupId,
      state: row.state,
      pinned: row.pinned,
      seeds: await openSeeds(this.db, row),
      // Members' signed heads (shared/src/client/peer-evidence.ts): public, kept as they are.
      ...(row.witnessed ? { witnessed: row.witnessed } : {}),
      ...(row.forkEvidence ? { forkEvidence: row.forkEvidence } : {}),
      // Broken generations this device found, attributed (no secret in them).
      ...(row.faults ? { faults: row.faults } : {}),
    };
  }

  async save(record: GroupRecord): Promise<void> {
    // Sealed before the transaction: WebCrypto calls would end an IndexedDB transaction.
    const seeds = await sealSeeds(this.db, record.groupId, record.seeds);
    await this.db.transaction('rw', this.db.groups, async () => {
      const existing = await this.db.groups.get(record.groupId);
      const row: GroupRow = {
        name: null,
        alarm: null,
        removed: false,
        notesCursor: 0,
        seenCursor: 0,
        joinedAt: Date.now(),
        ...existing,
        groupId: record.groupId,
        state: record.state,
        pinned: record.pinned,
        seeds,
        witnessed: record.witnessed,
        forkEvidence: record.forkEvidence,
        faults: record.faults,
      };
      await this.db.groups.put(row);
    });
  }

  async remove(groupId: GroupId): Promise<void> {
    await this.db.groups.delete(groupId);
  }

  async groups(): Promise<GroupId[]> {
    return (await this.db.groups.toCollection().primaryKeys()) as GroupId[];
  }
}

/**
 * The extension's own fields of a group's row (its name, alarm, removal, cursors),
 * changed only here: this module is the one owner of the `groups` table.
 */
export type GroupPatch = Partial<Pick<GroupRow, 'name' | 'alarm' | 'removed' | 'notesCursor' | 'seenCursor' | 'notesStamp'>>;

/** A group's row as stored (seeds still sealed), or undefined. */
export function groupRowOf(db: ConclaveDb, groupId: GroupId): Promise<GroupRow | undefined> {
  return db.groups.get(groupId);
}

/** Every group's row as stored. */
export function allGroupRows(db: ConclaveDb): Promise<GroupRow[]> {
  return db.groups.toArray();
}

/** The ids of every group this device keeps. */
export async function groupIdsOf(db: ConclaveDb): Promise<GroupId[]> {
  return (await db.groups.toCollection().primaryKeys()) as GroupId[];
}

/** Changes the extension's own fields of a group's row (nothing when the group is gone). */
export async function updateGroupRow(db: ConclaveDb, groupId: GroupId, patch: GroupPatch): Promise<void> {
  await db.groups.update(groupId, patch);
}

/** Moves the notes cursor forward (never back) and stamps what the cache was built with. */
export async function advanceNotesCursor(db: ConclaveDb, groupId: GroupId, cursor: number, stamp: string): Promise<void> {
  await db.transaction('rw', db.groups, async () => {
    const row = await db.groups.get(groupId);
    if (row) await db.groups.update(groupId, { notesCursor: Math.max(row.notesCursor, cursor), notesStamp: stamp });
  });
}

/** Forgets a group's row (inside the caller's transaction when there is one). */
export async function deleteGroupRow(db: ConclaveDb, groupId: GroupId): Promise<void> {
  await db.groups.delete(groupId);
}
