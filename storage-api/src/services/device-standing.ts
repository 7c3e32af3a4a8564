/**
 * Where a device stands according to the people's stored device chains (the device
 * index), next to what a group's log says. A group's log catches up with a person's
 * chain only when a device of theirs appends a `devices` entry; until then the index
 * is what tells the server that a device was unlinked (refuse it at once) or newly
 * linked (let it read the log so it can catch the group up).
 */
import type { Fingerprint, GroupDevice, GroupState, KeyBox } from '@conclave/shared/verify';
import type { Store } from '../store/types.ts';

/** True when a stored chain has unlinked `device`: it is refused everything a member may do, in every group. */
export async function isUnlinked(store: Store, device: Fingerprint): Promise<boolean> {
  return (await store.unlinkedDevices([device])).has(device);
}

/** True when a stored chain links `device` (still current) to a person who is a current member of the group. */
export async function linkedToMember(store: Store, state: GroupState, device: Fingerprint): Promise<boolean> {
  const standing = await store.deviceStanding(device);
  return standing !== null && standing.unlinkedSeq === null && state.members.has(standing.person);
}

/** The devices the group's log still lists that a stored chain has unlinked: no rotation box is owed to them. */
export function unlinkedInLog(store: Store, state: GroupState): Promise<Set<Fingerprint>> {
  return store.unlinkedDevices([...state.devices.keys()]);
}

/**
 * The first device an append makes speak for a member although a stored chain gives it
 * to another person, if any. The log's own rules catch a device claimed twice inside one
 * group; this catches it across the server (one person per device, ever).
 */
export async function claimedElsewhere(store: Store, before: GroupState | null, after: GroupState): Promise<GroupDevice | undefined> {
  for (const device of after.devices.values()) {
    if (before?.devices.get(device.fingerprint)?.person === device.person) continue;
    const standing = await store.deviceStanding(device.fingerprint);
    if (standing && standing.person !== device.person) return device;
  }
  return undefined;
}

/** The device recipients of `boxes` that a stored chain has unlinked: no box may be sealed to them (box-rules.ts). */
export function unlinkedRecipients(store: Store, boxes: readonly KeyBox[]): Promise<Set<Fingerprint>> {
  const devices = [...new Set(boxes.flatMap((box) => (box.recipient.kind === 'member' ? [box.recipient.id] : [])))];
  return devices.length > 0 ? store.unlinkedDevices(devices) : Promise.resolve(new Set());
}

/**
 * `boxes` without those sealed to a device a stored chain has unlinked. A group append's
 * rotation is sealed to the devices its log lists, and its author (another person) may
 * not know yet of an unlink the log has not caught up with: such a box is not stored
 * (no box is owed to that device), rather than failing the whole change.
 */
export async function withoutUnlinkedRecipients(store: Store, boxes: readonly KeyBox[]): Promise<KeyBox[]> {
  const unlinked = await unlinkedRecipients(store, boxes);
  return boxes.filter((box) => box.recipient.kind !== 'member' || !unlinked.has(box.recipient.id));
}
