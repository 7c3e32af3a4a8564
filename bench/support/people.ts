/**
 * People with several devices, and groups of them, for benchmarks (protocol v3: a member
 * is a person, i.e. a device chain). Everything is made with the protocol's own builders
 * and checked by the protocol's own replay, so a fixture cannot be subtly invalid:
 * - a person: `singleDeviceChain` of the first device, then for each further device its
 *   consent (`signConsent` at `nextPosition`) and the certifying `linkEntry`, signed by
 *   the device linked just before it (any current device may certify), each step
 *   validated with `extendChain` (which checks only the new entry's two signatures);
 * - a group: `createGroup` by the first person's first device with that person's chain,
 *   then one admin `add` per other person carrying their whole chain, validated once at
 *   the end with `extendLog`.
 * Identities are made in parallel batches (WebCrypto key generation runs on the thread pool).
 */
import {
  createGroup,
  entryHash,
  extendChain,
  extendLog,
  generateIdentity,
  linkEntry,
  nextEntry,
  nextPosition,
  signConsent,
  singleDeviceChain,
  type DeviceIdentity,
  type GroupState,
  type PersonState,
} from '@conclave/shared/crypto';
import type { DeviceEntry, LogEntry } from '@conclave/shared/protocol';

/** Makes `count` values, `width` at a time. */
export async function inBatches<T>(count: number, width: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => make(i + j)))));
  return out;
}

export interface BuiltPerson {
  /** The person's devices in the order they were linked; `devices[0]` founded the person. */
  devices: DeviceIdentity[];
  /** The whole chain: `found`, then one `link` per further device. */
  chain: DeviceEntry[];
  state: PersonState;
}

/** A person whose chain links `devices` in order, each certified by the one before it. */
export async function personOf(devices: readonly DeviceIdentity[]): Promise<BuiltPerson> {
  if (devices.length === 0) throw new Error('a person needs at least one device');
  const chain = await singleDeviceChain(devices[0]!);
  let state = await extendChain(null, chain);
  for (let i = 1; i < devices.length; i++) {
    const certifier = devices[i - 1]!;
    const device = devices[i]!;
    const consent = await signConsent(device, nextPosition(state, certifier.fingerprint));
    const link = await linkEntry(state, certifier, device.bundle, consent);
    state = await extendChain(state, [link]);
    chain.push(link);
  }
  if (state.devices.size !== devices.length) throw new Error(`built a person with ${state.devices.size} devices, wanted ${devices.length}`);
  return { devices: [...devices], chain, state };
}

/** `count` people of `devicesEach` fresh devices each. */
export async function makePeople(count: number, devicesEach: number): Promise<BuiltPerson[]> {
  const identities = await inBatches(count * devicesEach, 64, () => generateIdentity());
  return inBatches(count, 64, (i) => personOf(identities.slice(i * devicesEach, (i + 1) * devicesEach)));
}

export interface BuiltGroup {
  /** The first person's first device: the creator, an admin. */
  admin: DeviceIdentity;
  people: BuiltPerson[];
  /** The whole log: `create`, `recovery`, then one `add` per other person. */
  entries: LogEntry[];
  state: GroupState;
  /** Generation 0's seed. */
  seed: Uint8Array;
}

/** A group of `people` (the first creates it and adds every other one as a member). */
export async function groupOfPeople(people: readonly BuiltPerson[]): Promise<BuiltGroup> {
  const creator = people[0]!;
  const admin = creator.devices[0]!;
  const group = await createGroup(admin, { chain: creator.chain });
  // What `nextEntry` reads from a state: group id, seq, head, clock. Advanced by hand
  // (replaying after every add would be quadratic); the whole log is validated below.
  const cursor: GroupState = { ...group.state };
  const added: LogEntry[] = [];
  for (const person of people.slice(1)) {
    const entry = await nextEntry(cursor, admin, 'add', { member: person.chain, role: 'member' });
    added.push(entry);
    cursor.seq = entry.seq;
    cursor.head = entryHash(entry);
    cursor.lastAt = entry.at;
  }
  const state = await extendLog(group.state, added);
  const devices = people.reduce((n, p) => n + p.devices.length, 0);
  // Every person, plus the recovery recipient (a member with one device of its own).
  if (state.members.size !== people.length + 1 || state.devices.size !== devices + 1) {
    throw new Error(`built ${state.members.size} members with ${state.devices.size} devices, wanted ${people.length + 1} with ${devices + 1}`);
  }
  return { admin, people: [...people], entries: [...group.entries, ...added], state, seed: group.seed };
}

/**
 * How many signatures replaying these chain entries checks: one per entry, and a link
 * also carries the new device's consent.
 */
export function chainSignatureCount(chain: readonly DeviceEntry[]): number {
  return chain.reduce((n, e) => n + (e.op === 'link' ? 2 : 1), 0);
}
