/**
 * People with several devices, for the storage API's tests: device chains built with
 * the protocol core (found, link with the new device's consent, unlink), and the group
 * log's `devices` entry that carries a chain's new entries into a group (with the
 * rotation an unlink requires, sealed to every remaining device).
 */
import {
  currentGeneration,
  extendChain,
  extendLog,
  linkEntry,
  makeRotation,
  nextEntry,
  nextPosition,
  replayChain,
  sealToRecipients,
  signConsent,
  singleDeviceChain,
  unlinkEntry,
  type DeviceIdentity,
  type GroupState,
  type PersonState,
} from '@conclave/shared/crypto';
import type { DeviceEntry, Fingerprint, KeyBox, LogEntry } from '@conclave/shared/protocol';

/** A person as a test holds it: the chain's entries and its replayed state. */
export interface Person {
  entries: DeviceEntry[];
  state: PersonState;
}

/** A person founded by `device`, with no other device yet. */
export async function foundPerson(device: DeviceIdentity): Promise<Person> {
  const entries = await singleDeviceChain(device);
  return { entries, state: await replayChain(entries) };
}

/** The `link` entry by which `certifier` (a current device) adds `device`, with `device`'s consent. */
export async function linkDeviceEntry(person: PersonState, certifier: DeviceIdentity, device: DeviceIdentity, at: number = Date.now()): Promise<DeviceEntry> {
  const consent = await signConsent(device, nextPosition(person, certifier.fingerprint));
  return linkEntry(person, certifier, device.bundle, consent, at);
}

/** `person` with `entries` appended (validated, as a client would before sending). */
export async function extended(person: Person, entries: DeviceEntry[]): Promise<Person> {
  return { entries: [...person.entries, ...entries], state: await extendChain(person.state, entries) };
}

/** Links `device` to `person`, certified by `certifier`. */
export async function linkDevice(person: Person, certifier: DeviceIdentity, device: DeviceIdentity, at?: number): Promise<{ person: Person; entry: DeviceEntry }> {
  const entry = await linkDeviceEntry(person.state, certifier, device, at);
  return { person: await extended(person, [entry]), entry };
}

/** Unlinks `device` from `person`, signed by `author` (another current device). */
export async function unlinkDevice(person: Person, author: DeviceIdentity, device: Fingerprint, at?: number): Promise<{ person: Person; entry: DeviceEntry }> {
  const entry = await unlinkEntry(person.state, author, device, at);
  return { person: await extended(person, [entry]), entry };
}

/**
 * The group entry that carries `entries` of `person`'s chain into `group`, signed by
 * `author`; when they unlink a device the group has, a rotation from `seed` (the
 * current generation's) and its boxes sealed to every remaining device.
 */
export async function devicesEntry(
  group: GroupState,
  author: DeviceIdentity,
  person: Fingerprint,
  entries: DeviceEntry[],
  seed: Uint8Array,
  at: number = Date.now(),
): Promise<{ entry: LogEntry; state: GroupState; boxes: KeyBox[]; seed: Uint8Array }> {
  const member = group.members.get(person);
  if (!member?.chain) throw new Error('devicesEntry: not a member with a chain');
  const after = await extendChain(member.chain, entries);
  const unlinks = [...after.unlinked.keys()].some((fp) => group.devices.get(fp)?.person === person);
  if (!unlinks) {
    const entry = await nextEntry(group, author, 'devices', { person, entries }, at);
    return { entry, state: await extendLog(group, [entry]), boxes: [], seed };
  }
  const generation = currentGeneration(group) + 1;
  const rotated = await makeRotation(group.groupId, generation, seed);
  const entry = await nextEntry(group, author, 'devices', { person, entries, rotation: rotated.rotation }, at);
  const state = await extendLog(group, [entry]);
  const { boxes } = await sealToRecipients(state, author, generation, rotated.seed, at);
  return { entry, state, boxes, seed: rotated.seed };
}
