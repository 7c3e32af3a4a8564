/**
 * Membership changes that involve the group key (DESIGN §4–6): creating a group with
 * its recovery recipient, leaving (which owes the group a rotation), and every change
 * that starts a new generation (remove, rotate, replacing the recovery key — admins
 * only). Each returns the signed entries, the new
 * seed for the author to keep, and the key boxes to post — already validated against
 * the same rules every other client will apply.
 */
import { toBase64url } from '../protocol/encoding.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import { MAX_ROTATION_LINKS, PROTOCOL_VERSION, type DeviceEntry, type HandoverPolicy, type KeyBox, type LogEntry, type Rotation } from '../protocol/schemas.ts';
import { founderOf, singleDeviceChain } from './device-chain.ts';
import { checkSeed, makeRotation, newSeed, repairLinks, seedCommitment, type GenerationFault } from './generations.ts';
import { currentGeneration, nextEntry, seedRecipients, signEntry, type GroupState } from './group-log.ts';
import { EncodingError, KeyBoxError } from './errors.ts';
import type { DeviceIdentity } from './identity.ts';
import { sealKeyBox } from './key-box.ts';
import { deriveGroupId, extendLog, replayLog } from './log-replay.ts';
import { randomBytes } from './primitives.ts';
import { createRecoveryCode } from './recovery.ts';

export interface SealedSeed {
  boxes: KeyBox[];
  /** Recipients whose logged box key cannot be sealed to (e.g. a low-order point): show them, never stop for them. */
  unreachable: KeyBox['recipient'][];
}

/**
 * Seals `seed` to everyone who must hold generation `generation`, in parallel. One
 * member with an unusable key cannot block a rotation for everyone else.
 */
export async function sealToRecipients(state: GroupState, sender: DeviceIdentity, generation: number, seed: Uint8Array, now: number = Date.now()): Promise<SealedSeed> {
  const recipients = seedRecipients(state, now).filter((r) => !(r.kind === 'member' && r.id === sender.fingerprint));
  const results = await Promise.allSettled(
    recipients.map((r) => sealKeyBox(sender, state.groupId, generation, seed, { kind: r.kind, id: r.id } as KeyBox['recipient'], r.boxKey)),
  );
  const sealed: SealedSeed = { boxes: [], unreachable: [] };
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') sealed.boxes.push(result.value);
    else if (result.reason instanceof EncodingError) sealed.unreachable.push({ kind: recipients[i]!.kind, id: recipients[i]!.id } as KeyBox['recipient']);
    else throw result.reason;
  });
  return sealed;
}

export interface NewGroup {
  /** `create`, then `recovery`: append both. */
  entries: LogEntry[];
  state: GroupState;
  /** Generation 0's seed: the creator keeps it in its key store. */
  seed: Uint8Array;
  /** Shown once to the creator, with a recovery kit to save. Never sent anywhere. */
  recoveryCode: string;
  /** The seed sealed to the recovery recipient. */
  boxes: KeyBox[];
}

/** Creates a group: `create` by the creator, then the recovery recipient as an admin. */
export async function createGroup(creator: DeviceIdentity, options: { policy?: HandoverPolicy; at?: number; chain?: DeviceEntry[] } = {}): Promise<NewGroup> {
  const at = options.at ?? Date.now();
  const chain = options.chain ?? (await singleDeviceChain(creator));
  const nonce = toBase64url(randomBytes(16));
  const groupId = deriveGroupId(founderOf(chain), nonce);
  const seed = newSeed();
  const create = await signEntry(
    {
      v: PROTOCOL_VERSION,
      groupId,
      seq: 0,
      prev: null,
      author: creator.fingerprint,
      at,
      op: 'create',
      body: { creator: chain, nonce, seedCommitment: await seedCommitment(seed, groupId, 0), policy: options.policy ?? 'verified' },
    },
    creator,
  );
  const created = await replayLog([create]);
  const { code, identity } = await createRecoveryCode(groupId);
  const recovery = await nextEntry(created, creator, 'recovery', { recovery: identity.bundle }, at);
  const state = await extendLog(created, [recovery]);
  const { boxes } = await sealToRecipients(state, creator, 0, seed, at);
  return { entries: [create, recovery], state, seed, recoveryCode: code, boxes };
}

export interface Rotated {
  entry: LogEntry;
  state: GroupState;
  seed: Uint8Array;
  generation: number;
  boxes: KeyBox[];
  unreachable: KeyBox['recipient'][];
}

/**
 * The seeds an author rotates from: one seed is the current generation's (checked
 * against the log: a wrong one would strand every older key); a map is every seed the
 * author holds, and the rotation links the newest of them plus whatever a broken
 * generation would otherwise strand (a repair, DESIGN §4).
 */
export type HeldSeeds = Uint8Array | ReadonlyMap<number, Uint8Array>;

async function linksFor(state: GroupState, held: HeldSeeds, faults: readonly GenerationFault[]): Promise<Map<number, Uint8Array>> {
  if (held instanceof Uint8Array) {
    await checkSeed(state, currentGeneration(state), held);
    return new Map([[currentGeneration(state), held]]);
  }
  const links = repairLinks(state, held, faults, MAX_ROTATION_LINKS);
  if (links.size === 0) throw new KeyBoxError('a new key can only be made by a device that holds an earlier key of the group');
  return links;
}

async function rotateWith(
  state: GroupState,
  author: DeviceIdentity,
  held: HeldSeeds,
  build: (rotation: Rotation) => Promise<LogEntry>,
  now: number,
  faults: readonly GenerationFault[] = [],
): Promise<Rotated> {
  const generation = currentGeneration(state) + 1;
  const { seed, rotation } = await makeRotation(state.groupId, generation, await linksFor(state, held, faults));
  const entry = await build(rotation);
  const next = await extendLog(state, [entry]);
  const { boxes, unreachable } = await sealToRecipients(next, author, generation, seed, now);
  return { entry, state: next, seed, generation, boxes, unreachable };
}

/** An admin removes a member; the new generation is sealed to everyone else. The removed member keeps what they already read. */
export function removeMember(state: GroupState, admin: DeviceIdentity, member: Fingerprint, held: HeldSeeds, now: number = Date.now(), faults: readonly GenerationFault[] = []): Promise<Rotated> {
  return rotateWith(state, admin, held, (rotation) => nextEntry(state, admin, 'remove', { member, rotation }, now), now, faults);
}

/**
 * A member leaves. The entry carries no key: the departing member never chooses the
 * next generation (DESIGN §4). The log then owes a rotation (`owedRotation`) that the
 * first admin device to see it makes with `rotateKey`.
 */
export async function leaveGroup(state: GroupState, me: DeviceIdentity, now: number = Date.now()): Promise<{ entry: LogEntry; state: GroupState }> {
  const entry = await nextEntry(state, me, 'leave', {}, now);
  return { entry, state: await extendLog(state, [entry]) };
}

/** An admin starts a new generation with nobody removed: after a leave, a lost device, or to repair a broken key. */
export function rotateKey(state: GroupState, admin: DeviceIdentity, held: HeldSeeds, now: number = Date.now(), faults: readonly GenerationFault[] = []): Promise<Rotated> {
  return rotateWith(state, admin, held, (rotation) => nextEntry(state, admin, 'rotate', { rotation }, now), now, faults);
}

/** An admin replaces the recovery code (e.g. the old one was exposed): the old recovery key loses access. */
export async function replaceRecovery(
  state: GroupState,
  admin: DeviceIdentity,
  held: HeldSeeds,
  now: number = Date.now(),
  faults: readonly GenerationFault[] = [],
): Promise<Rotated & { recoveryCode: string }> {
  const { code, identity } = await createRecoveryCode(state.groupId);
  const rotated = await rotateWith(state, admin, held, (rotation) => nextEntry(state, admin, 'recovery', { recovery: identity.bundle, rotation }, now), now, faults);
  return { ...rotated, recoveryCode: code };
}
