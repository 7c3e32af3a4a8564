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
