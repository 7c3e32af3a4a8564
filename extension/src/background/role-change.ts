/**
 * Changing a member's role (DESIGN §4 `role` entry), which `GroupClient` does not offer
 * yet: build the entry on the synced log, check it with the same replay every client
 * runs (which refuses demoting the last person who is an admin), append it with
 * compare-and-set through the background's own session, then let the client adopt it
 * by syncing — so the log is validated exactly as for any other change.
 */
import { ApiCallError, call, GroupClientError } from '@conclave/shared/client';
import { isAdmin, nextEntry } from '@conclave/shared/crypto';
import { extendLog } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, Role } from '@conclave/shared/protocol';
import type { Connection } from './connection.ts';

const ATTEMPTS = 4;

/**
 * @throws {LogVerificationError} `last-admin` when it would leave no person as admin;
 *   {GroupClientError} `not-admin`, `not-member` or `busy`.
 */
export async function changeRole(connection: Connection, groupId: GroupId, member: Fingerprint, role: Role, now: () => number): Promise<void> {
  const { client, identity } = connection;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const state = await client.sync(groupId);
    if (!isAdmin(state, identity.fingerprint)) throw new GroupClientError('not-admin', 'only an admin of the group can change roles');
    const target = state.members.get(member);
    if (!target || member === state.recovery) throw new GroupClientError('not-member', 'this device is not a member whose role can change');
    if (target.role === role) return;
    const entry = await nextEntry(state, identity, 'role', { member, role }, now());
    await extendLog(state, [entry], { now: now() });
    const keeper = await connection.api();
    try {
      await keeper.run(() => call('changing a role', () => keeper.api.groups.append.mutate({ groupId, entries: [entry], boxes: [] })));
    } catch (error) {
      if (error instanceof ApiCallError && error.is('CONFLICT')) continue;
      throw error;
    }
    await client.sync(groupId);
    return;
  }
  throw new GroupClientError('busy', 'the group log kept changing: try again');
}
