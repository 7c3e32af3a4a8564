/**
 * Recovery (DESIGN §6.4, the seed's problem 1). At creation a group gets a recovery
 * recipient: a device identity derived entirely from a recovery code shown once. It is
 * an ordinary, visible admin member of the log and receives a box at every rotation,
 * so a fresh device holding only the code can open the newest seed and add itself.
 */
import { fromBase64url, utf8 } from '../protocol/encoding.ts';
import type { GroupId } from '../protocol/ids.ts';
import type { DeviceEntry, KeyBox, LogEntry } from '../protocol/schemas.ts';
import { singleDeviceChain } from './device-chain.ts';
import { RecoveryError } from './errors.ts';
import type { GenerationFault } from './generations.ts';
import { nextEntry, type GroupState } from './group-log.ts';
import { identityFromKeyPairs, type DeviceIdentity } from './identity.ts';
import { openerFor, openSeedBoxes, sealKeyBox } from './key-box.ts';
import { LABELS } from './labels.ts';
import { extendLog } from './log-replay.ts';
import { hkdfSha256, keyPairFromSeed, type KeyPairWithPublicBytes } from './primitives.ts';
import { encodeSecretCode, newSecret, parseSecretCode } from './secret-code.ts';

/** The recovery identity a code stands for. The same code always gives the same keys. */
export async function deriveRecoveryIdentity(groupId: GroupId, secret: Uint8Array): Promise<DeviceIdentity> {
  const salt = fromBase64url(groupId);
  const [signSeed, boxSeed] = await Promise.all([
    hkdfSha256(secret, salt, utf8(LABELS.recoverySignKey), 32),
    hkdfSha256(secret, salt, utf8(LABELS.recoveryBoxKey), 32),
  ]);
  const [signKeys, boxKeys]: KeyPairWithPublicBytes[] = await Promise.all([keyPairFromSeed('Ed25519', signSeed), keyPairFromSeed('X25519', boxSeed)]);
  return identityFromKeyPairs(signKeys!, boxKeys!);
}

/** A new recovery code for a group, and the identity it unlocks. Show the code once. */
export async function createRecoveryCode(groupId: GroupId): Promise<{ code: string; identity: DeviceIdentity }> {
  const secret = newSecret();
  return { code: encodeSecretCode('recovery', { groupId, secret }), identity: await deriveRecoveryIdentity(groupId, secret) };
}

/** @throws {EncodingError} when the code is mistyped or not a recovery code. */
export async function recoveryIdentityFromCode(code: string): Promise<{ groupId: GroupId; identity: DeviceIdentity }> {
  const { groupId, secret } = parseSecretCode('recovery', code);
  return { groupId, identity: await deriveRecoveryIdentity(groupId, secret) };
}

export interface Restoration {
  /** Append this: the recovery key adds the new device as an admin. */
  entry: LogEntry;
  /** Post this: the newest seed, sealed to the new device. */
  box: KeyBox;
  /** Every seed the recovery boxes open, directly or through the log's links. */
  seeds: Map<number, Uint8Array>;
  /** Broken generations met on the way (attributed): the restored admin device repairs them. */
  faults: GenerationFault[];
  state: GroupState;
}

/**
 * Restores access on a fresh device from the recovery code alone.
 * @param boxes key boxes the server holds for the recovery recipient.
 * @throws {RecoveryError} when the code is not this group's recovery key or no box opens.
 */
export async function restoreWithRecoveryCode(code: string, state: GroupState, boxes: readonly unknown[], newDevice: DeviceIdentity, chain?: DeviceEntry[]): Promise<Restoration> {
  const { groupId, identity } = await recoveryIdentityFromCode(code);
  if (groupId !== state.groupId) throw new RecoveryError('this recovery code is for another group');
  if (state.recovery !== identity.fingerprint) {
    throw new RecoveryError('this recovery code was replaced by a newer one, or belongs to a different group history');
  }
  // Every box for the recovery key, newest generation first, every sender: the server
  // chooses what it lists, and a junk box must not hide a good one (DESIGN §5).
  const { seeds: held, faults } = await openSeedBoxes(boxes, openerFor(identity), state);
  if (held.size === 0) throw new RecoveryError('the server has no key for this recovery code that opens');
  // A broken newest key still restores access: the new admin device repairs the chain from what opened.
  const newest = Math.max(...held.keys());
  const entry = await nextEntry(state, identity, 'add', { member: chain ?? (await singleDeviceChain(newDevice)), role: 'admin' });
  const next = await extendLog(state, [entry]);
  const box = await sealKeyBox(identity, state.groupId, newest, held.get(newest)!, { kind: 'member', id: newDevice.fingerprint }, newDevice.boxKeys.publicBytes);
  return { entry, box, seeds: held, faults, state: next };
}
