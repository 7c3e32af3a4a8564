/**
 * This device's connection to the storage API: its identity and one `GroupClient` over
 * the `groups` and `seenNotes` tables — the only door to the server (one session, one
 * lock per group). Rebuilt on demand: the service worker may be stopped at any time,
 * so the cache here (per API address and device) is only an optimisation.
 */
import { GroupClient } from '@conclave/shared/client';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import type { ConclaveDb, IdentityRow } from '../db/schema.ts';
import { loadIdentity } from '../db/identity.ts';
import { DexieKeyStore } from '../db/key-store.ts';
import { DexieNoteStore } from '../db/note-store.ts';
import { DexiePersonStore } from '../db/person-store.ts';
import type { Settings } from '../messages/views.ts';
import { fail } from './errors.ts';
import { loadSettings } from './settings.ts';
import type { TrustBook } from './trust.ts';

export interface Connection {
  identity: DeviceIdentity;
  settings: Settings;
  client: GroupClient;
}

export async function requireIdentity(db: ConclaveDb): Promise<IdentityRow> {
  const row = await loadIdentity(db);
  if (!row) fail('no-identity', 'This device has no identity yet.', 'Open the Conclave popup and choose a name to set it up.');
  return row;
}

export class Connections {
  private cached: { key: string; connection: Promise<Connection> } | null = null;

  constructor(
    private readonly db: ConclaveDb,
    private readonly trust: TrustBook,
    private readonly now: () => number,
  ) {}

  /** The connection for the current identity and settings (signing in when needed). */
  async get(): Promise<Connection> {
    const [row, settings] = await Promise.all([requireIdentity(this.db), loadSettings(this.db)]);
    const key = `${settings.apiUrl}|${row.identity.fingerprint}`;
    if (this.cached?.key !== key) {
      const connection = this.connect(row.identity, settings);
      this.cached = { key, connection };
      // A failed sign-in (server down) is not kept: the next call tries again.
      connection.catch(() => {
        if (this.cached?.connection === connection) this.cached = null;
      });
    }
    return this.cached.connection;
  }

  /** Forgets the cached connection (after the settings change). */
  forget(): void {
    this.cached = null;
  }

  private async connect(identity: DeviceIdentity, settings: Settings): Promise<Connection> {
    const client = await GroupClient.connect(settings.apiUrl, identity, new DexieKeyStore(this.db), {
      notes: new DexieNoteStore(this.db),
      // This device's person and the chains it pinned (db/person-store.ts).
      people: new DexiePersonStore(this.db),
      // The SDK asks by person id (protocol v3): trust is per person.
      trustOf: (_groupId, person) => this.trust.trustOf(person),
      now: this.now,
    });
    return { identity, settings, client };
  }
}
