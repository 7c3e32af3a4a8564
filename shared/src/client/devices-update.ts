/**
 * Bringing a group's copy of a person's device chain up to date (DESIGN §3, §4): a
 * `devices` entry carrying the chain entries the log has not seen. When they unlink a
 * device the log still lists, that device holds the current key, so the entry starts a
 * new generation sealed to every remaining device (the person signs it, admin or not).
 */
import { deviceEntryHash, extendChain } from '../crypto/device-chain.ts';
import { DeviceChainError } from '../crypto/errors.ts';
import { makeRotation, repairLinks, type GenerationFault } from '../crypto/generations.ts';
import { sealToRecipients, type Rotated } from '../crypto/group-lifecycle.ts';
import { currentGeneration, nextEntry, type GroupState } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { extendLog } from '../crypto/log-replay.ts';
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import { MAX_ROTATION_LINKS, type DeviceEntry, type LogEntry } from '../protocol/schemas.ts';
import { GroupClientError } from './errors.ts';

/** What a change to this person's devices did in each group (unlink, link). */
export interface DevicesReport {
  groups: Array<{ groupId: GroupId; ok: true; generation: number } | { groupId: GroupId; ok: false; reason: string; message: string }>;
}

/** A short name for why a group could not be updated (an error's reason or code). */
export function failureName(error: unknown): string {
  if (error instanceof GroupClientError) return error.reason;
  const code = (error as { reason?: unknown }).reason ?? (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'failed';
}

export type DevicesUpdate = { kind: 'plain'; entry: LogEntry; state: GroupState } | { kind: 'rotated'; rotated: Rotated };

/**
 * The entries of `chain` (a whole validated chain of `person`) after the ones the log
 * holds, or none when the log is up to date (or ahead: the caller refreshes its pin).
 * The log's copy must be the same history, not only as long: at the last entry both
 * have, the hashes must match (THREAT-MODEL §4 item 9).
 * @throws {DeviceChainError} `fork` when the log's copy and `chain` differ there.
 */
export function missingEntries(state: GroupState, person: Fingerprint, chain: readonly DeviceEntry[]): DeviceEntry[] {
  const held = state.members.get(person)?.chain;
  if (!held) return [];
  const common = Math.min(held.seq, chain.length - 1);
  const ours = chain[common];
  if (common >= 0 && (!ours || deviceEntryHash(ours) !== held.hashes[common])) {
    throw new DeviceChainError('fork', `${person}'s device list in this group's log differs from the one this device pinned, at entry ${common}`, common);
  }
  return chain.filter((e) => e.seq > held.seq);
}

/**
 * Builds (and validates) the `devices` entry that continues the log's copy of `person`'s
 * chain with `entries`, signed by `author`.
 * @param held every seed the author holds (a rotation links from them).
 * @throws {GroupClientError} `no-key` when a rotation is needed and no seed is held;
 *   {DeviceChainError} / {LogVerificationError} when the entries do not continue the log's copy.
 */
export async function devicesUpdate(
  state: GroupState,
  author: DeviceIdentity,
  person: Fingerprint,
  entries: DeviceEntry[],
  held: ReadonlyMap<number, Uint8Array>,
  faults: readonly GenerationFault[],
  now: number,
): Promise<DevicesUpdate> {
  const member = state.members.get(person);
  if (!member?.chain) throw new GroupClientError('not-member', 'this person is not a member of the group');
  const next = await extendChain(member.chain, entries, { now });
  const unlinking = [...next.unlinked.keys()].some((fp) => state.devices.get(fp)?.person === person);
  if (!unlinking) {
    const entry = await nextEntry(state, author, 'devices', { person, entries }, now);
    return { kind: 'plain', entry, state: await extendLog(state, [entry], { now }) };
  }
  const links = repairLinks(state, held, faults, MAX_ROTATION_LINKS);
  if (links.size === 0) throw new GroupClientError('no-key', 'unlinking a device makes a new group key, which needs a key of the group on this device first');
  const generation = currentGeneration(state) + 1;
  const { seed, rotation } = await makeRotation(state.groupId, generation, links);
  const entry = await nextEntry(state, author, 'devices', { person, entries, rotation }, now);
  const after = await extendLog(state, [entry], { now });
  const { boxes, unreachable } = await sealToRecipients(after, author, generation, seed, now);
  return { kind: 'rotated', rotated: { entry, state: after, seed, generation, boxes, unreachable } };
}
