/**
 * People and their devices, as the background names them (DESIGN §3, protocol v3): a
 * member of a group is a person, named by the fingerprint of the device that founded
 * their device chain; everything a device signs or receives (a session, a log entry,
 * a note, a key box, a peer channel) is named by that device's own fingerprint.
 *
 * The one rule: a device fingerprint is turned into its person here, before anything
 * per person (a name, trust, a role, a safety number) is looked up. A person id given
 * where a device is expected is its own answer, so the helpers can be called with
 * either.
 */
import { devicesOf, memberOfDevice, personOfDevice, type GroupDevice, type GroupState, type MemberInfo } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';

/** The person a fingerprint speaks (or spoke) for in this group; a person id, or a device the log never saw, is itself. */
export function personFor(state: GroupState, fingerprint: Fingerprint): Fingerprint {
  if (state.members.has(fingerprint) || state.departed.has(fingerprint)) return fingerprint;
  return personOfDevice(state, fingerprint) ?? fingerprint;
}

/** The member this device speaks for now, or undefined (not, or no longer, a member). */
export function myMember(state: GroupState, me: Fingerprint): MemberInfo | undefined {
  return memberOfDevice(state, me);
}

/** The person this device speaks for in this group, or null. */
export function myPerson(state: GroupState, me: Fingerprint): Fingerprint | null {
  return memberOfDevice(state, me)?.fingerprint ?? null;
}

/** True while this device is a current device of a current member. */
export function isMemberDevice(state: GroupState, device: Fingerprint): boolean {
  return memberOfDevice(state, device) !== undefined;
}

/** A current member (a person, not the recovery key). */
export function isPerson(state: GroupState, person: Fingerprint): boolean {
  return state.members.has(person) && person !== state.recovery;
}

/** The current devices of a person in this group (empty when none). */
export function devicesOfPerson(state: GroupState, person: Fingerprint): GroupDevice[] {
  return devicesOf(state, person);
}

/** True when `fingerprint` names this device's own person (a person id or one of its devices). */
export function isMine(state: GroupState, fingerprint: Fingerprint, me: Fingerprint): boolean {
  const mine = myPerson(state, me);
  return fingerprint === me || (mine !== null && personFor(state, fingerprint) === mine);
}
