/**
 * `KeyStore` (shared/src/client) over the `groups` table: the validated log state,
 * the pinned head and the seeds, kept across service-worker restarts. The extension's
 * own fields of a row (name, alarm, cursors) are left as they are.
 */
import type { GroupRecord, KeyStore } from '../../../shared/src/client/key-store.ts';
import type { GroupId } from '../../../shared/src/protocol/ids.ts';
import type { ConclaveDb, GroupRow } from './schema.ts';

export class DexieKeyStore implements KeyStore {
  constructor(private readonly db: ConclaveDb) {}

  async load(groupId: GroupId): Promise<GroupRecord | undefined> {
    const row = await this.db.groups.get(groupId);
    if (!row) return undefined;
    return { groupId: row.groupId, state: row.state, pinned: row.pinned, seeds: row.seeds };
  }

  async save(record: GroupRecord): Promise<void> {
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
        seeds: record.seeds,
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
