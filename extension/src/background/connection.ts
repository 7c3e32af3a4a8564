/**
 * This device's connection to the storage API: its identity, a `GroupClient` over the
 * `groups` table, and a session of the background's own for the few calls the
 * client does not make (who waits in the mailbox, note headers for unread counts, a
 * role change). Both are rebuilt on demand: the service worker may be stopped at any
 * time, so the cache here (per API address and device) is only an optimisation.
 */
import { signIn } from '@conclave/shared/client';
import { GroupClient } from '@conclave/shared/client';
import { SessionKeeper } from '@conclave/shared/client';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import type { ConclaveDb, IdentityRow } from '../db/schema.ts';
import { DexieKeyStore } from '../db/key-store.ts';
import { DexieNoteStore } from '../db/note-store.ts';
import type { Settings } from '../messages/views.ts';
import { fail } from './errors.ts';
import { loadSettings } from './settings.ts';
import type { TrustBook } from './trust.ts';

export interface Connection {
  identity: DeviceIdentity;
  settings: Settings;
  client: GroupClient;
  /** The background's own session (signed in on first use). */
  api(): Promise<SessionKeeper>;
}

export async function requireIdentity(db: ConclaveDb): Promise<IdentityRow> {
  const row = await db.identity.get('device');
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
      trustOf: (_groupId, fingerprint) => this.trust.trustOf(fingerprint),
      now: this.now,
    });
    let keeper: Promise<SessionKeeper> | null = null;
    const api = () => {
      keeper ??= signIn(settings.apiUrl, identity).then((session) => new SessionKeeper(session, identity, settings.apiUrl, this.now));
      keeper.catch(() => {
        keeper = null;
      });
      return keeper;
    };
    return { identity, settings, client, api };
  }
}
