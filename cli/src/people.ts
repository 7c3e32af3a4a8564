/**
 * People and their devices in a group's state (protocol v3, docs/PROTOCOL.md): a member
 * is a person, named by the fingerprint of the device that founded them; entries, notes,
 * key boxes, peers and this device's own identity are devices. The one rule: a device
 * fingerprint is looked up through `state.devices` (`memberOfDevice`, `personOfDevice`),
 * a person through `state.members`. Names (meta-note profiles) and trust belong to people.
 */
import { memberOfDevice, personOfDevice, type GroupState, type MemberInfo } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { Device } from './device.ts';
import { who } from './output.ts';

/** The member this device speaks for in `state`; undefined when it is not (or no longer) one. */
export function myMember(state: GroupState, device: Device): MemberInfo | undefined {
  return memberOfDevice(state, device.fingerprint);
}

/** Whether this device currently speaks for a member of the group. */
export function isMine(state: GroupState, device: Device): boolean {
  return myMember(state, device) !== undefined;
}

/**
 * The person a device speaks (or spoke) for; a device the log never knew stays itself
 * (shown by its own fingerprint rather than hidden).
 */
export function personOf(state: GroupState, deviceFp: Fingerprint): Fingerprint {
  return personOfDevice(state, deviceFp) ?? deviceFp;
}

/** The display name of whoever a device speaks for, when known. */
export function nameOfDevice(device: Device, state: GroupState, deviceFp: Fingerprint): string | undefined {
  return device.names.memberName(personOf(state, deviceFp));
}

/** "Ana (abcd efgh ijkl mnop)" for the person a device speaks for. */
export function whoseDevice(device: Device, state: GroupState, deviceFp: Fingerprint): string {
  const person = personOf(state, deviceFp);
  return who(device.names.memberName(person), person);
}

/**
 * The same for a device met outside any one group (a live handover names only the peer):
 * the first group on this device whose log knows it says whose it is.
 */
export async function whoseDeviceAnywhere(device: Device, deviceFp: Fingerprint): Promise<string> {
  for (const groupId of await device.store.groups()) {
    const record = await device.store.load(groupId);
    if (record && personOfDevice(record.state, deviceFp)) return whoseDevice(device, record.state, deviceFp);
  }
  return who(device.names.memberName(deviceFp), deviceFp);
}
