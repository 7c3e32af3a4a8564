/**
 * Restoring a group on a fresh device from its recovery code (DESIGN §6.4). The code
 * derives the recovery identity, an admin member of the log; the device signs in as
 * that identity with a session of its own, validates the whole log, opens the
 * recovery key box, and appends the `add` of the new device with the key sealed to it.
 * The recovery session is signed out at the end; nothing of the code is kept.
 */
import { logHead } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import type { DeviceEntry } from '../protocol/schemas.ts';
import { recoveryIdentityFromCode, restoreWithRecoveryCode } from '../crypto/recovery.ts';
import { signIn } from './api-session.ts';
import { RecoveryError } from '../crypto/errors.ts';
import { ApiCallError, call, GroupClientError } from './errors.ts';
import type { GroupRecord } from './key-store.ts';
import { fetchAndReplay } from './log-sync.ts';

const ATTEMPTS = 4;

/**
 * @param chain the device chain of the new device's person (the person is added, with every device of theirs).
 * @returns the new device's record of the group: validated state and every seed.
 * @throws {RecoveryError} when the code is not the group's current recovery key or no box opens;
 *   {EncodingError} when the code is mistyped.
 */
export async function restoreFromCode(baseUrl: string, recoveryCode: string, device: DeviceIdentity, now: () => number, chain?: DeviceEntry[]): Promise<GroupRecord> {
  const { groupId, identity } = await recoveryIdentityFromCode(recoveryCode);
  const recovery = await signIn(baseUrl, identity);
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const state = await fetchAndReplay(recovery.api, groupId, now());
      // A replaced code's key is no longer in the group: say so before asking for its boxes.
      if (state.recovery !== identity.fingerprint) {
        throw new RecoveryError('this recovery code was replaced by a newer one: ask an admin of the group for the current recovery kit');
      }
      const boxes = await call('reading the recovery key boxes', () => recovery.api.boxes.mine.query({ groupId }));
      const restored = await restoreWithRecoveryCode(recoveryCode, state, boxes, device, chain);
      try {
        await call('adding this device', () => recovery.api.groups.append.mutate({ groupId, entries: [restored.entry], boxes: [restored.box] }));
      } catch (error) {
        // Someone changed the group meanwhile: rebuild on the newer log.
        if (error instanceof ApiCallError && error.is('CONFLICT')) continue;
        throw error;
      }
      return { groupId, state: restored.state, pinned: logHead(restored.state), seeds: restored.seeds, ...(restored.faults.length > 0 ? { faults: restored.faults } : {}) };
    }
    throw new GroupClientError('busy', 'the group log kept changing while restoring: try again');
  } finally {
    await recovery.logout().catch(() => undefined);
  }
}
