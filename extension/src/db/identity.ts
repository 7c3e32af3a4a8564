/**
 * This device's identity row (the secret `identity` table): the device keys (private
 * halves non-extractable) and the person's display name. The one owner of the table.
 */
import type { ConclaveDb, IdentityRow } from './schema.ts';

export function loadIdentity(db: ConclaveDb): Promise<IdentityRow | undefined> {
  return db.identity.get('device');
}

/** Stores a new identity; fails when the device already has one. */
export async function addIdentity(db: ConclaveDb, row: IdentityRow): Promise<void> {
  await db.identity.add(row);
}

export async function renameIdentity(db: ConclaveDb, displayName: string): Promise<void> {
  await db.identity.update('device', { displayName });
}
