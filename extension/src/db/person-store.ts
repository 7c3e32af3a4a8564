/**
 * `PersonStore` (shared/src/client person-store.ts) over two tables: `person`, this
 * device's own person (the device chain it speaks for, the head it pinned, the profile
 * it hands to a device it links), and `people`, the chains of other people it validated
 * and pinned. Chains are public (the server holds them); the profile is the person's own
 * name and settings, kept on this device only. The one owner of both tables.
 */
import type { PersonState } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { ConclaveDb, PersonRecord, PersonStore } from './schema.ts';

export class DexiePersonStore implements PersonStore {
  constructor(private readonly db: ConclaveDb) {}

  async load(): Promise<PersonRecord | null> {
    const row = await this.db.person.get('me');
    if (!row) return null;
    const { id: _id, ...record } = row;
    return record;
  }

  async save(record: PersonRecord): Promise<void> {
    await this.db.person.put({ ...record, id: 'me' });
  }

  known(person: Fingerprint): Promise<PersonState | undefined> {
    return this.db.people.get(person);
  }

  async keep(state: PersonState): Promise<void> {
    await this.db.people.put(state);
  }
}

/** This device's person id as last saved (no network), or null before it has one. */
export async function savedPersonId(db: ConclaveDb): Promise<Fingerprint | null> {
  return (await db.person.get('me'))?.person ?? null;
}
