/**
 * What the API checks before it stores a person's device chain (DESIGN §3): the chain
 * rules themselves (`extendChain`, the code every client runs) from the stored chain,
 * that the signed-in device speaks for the person once the entries apply, and that no
 * device it links already belongs to another person. The server checks as defence in
 * depth: clients replay and pin chains themselves and never trust this check.
 *
 * Every refusal is an `apiError` whose message names the entry and says what to do; no
 * message carries a key or a signature.
 */
import {
  chainHead,
  DeviceChainError,
  extendChain,
  MAX_DEVICE_CHAIN_ENTRIES,
  replayChain,
  type ChainRejection,
  type DeviceEntry,
  type Fingerprint,
  type LogHead,
  type PersonState,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { ChainDeviceChanges, Store } from '../store/types.ts';

/** Why a chain was refused, in words for the person whose device sent it. */
const CHAIN_REJECTION_TEXT: Record<ChainRejection | 'device-claimed', string> = {
  malformed: 'it is malformed or breaks the shape of a device chain',
  'bad-signature': "a signature on it (an entry's or a new device's consent) does not verify",
  'wrong-person': 'it belongs to another person, or its found entry does not name its own device',
  'bad-sequence': 'its sequence number is not the next one',
  'bad-link': 'it does not link to the previous entry',
  'not-a-device': "it is signed by (or unlinks) a device that is not one of this person's current devices",
  'device-unlinked': 'it is signed by a device this person has unlinked',
  'device-reused': 'it links a device this person already has or had (an unlinked device never comes back)',
  'self-unlink': 'a device cannot unlink itself: another device of the person signs the unlink',
  'last-device': 'it would leave the person with no device',
  'time-went-backwards': 'it is dated before the entry it follows',
  'time-in-future': "it is dated too far ahead of the server's clock",
  rollback: 'it would roll the chain back',
  fork: 'it would fork the chain',
  'device-claimed': 'it links a device that already speaks (or spoke) for another person: a device belongs to one person, ever',
};

export function chainRejected(reason: ChainRejection | 'device-claimed', detail: string): Error {
  return apiError('CHAIN_REJECTED', `${detail} (${reason}): ${CHAIN_REJECTION_TEXT[reason]}. Fetch the chain (people.get), rebuild the change on it and send it again`, { reason });
}

/** The stored chain replayed, or null for a person not stored here. */
export async function storedPerson(store: Store, person: Fingerprint): Promise<{ state: PersonState; head: LogHead } | null> {
  const stored = await store.getChain(person);
  if (!stored) return null;
  // The stored chain was validated when it was appended; replaying it again is the price of keeping no cache.
  // Its dates were checked then, against the clock of that time: they are not checked again.
  const state = await replayChain(stored.entries, { person, now: Number.POSITIVE_INFINITY });
  return { state, head: stored.head };
}

/** `extendChain` with the server's clock; a broken rule is CHAIN_REJECTED. */
export async function validateChainEntries(before: PersonState | null, person: Fingerprint, entries: readonly DeviceEntry[], now: number): Promise<PersonState> {
  try {
    return await extendChain(before, entries, { person, now });
  } catch (error) {
    if (error instanceof DeviceChainError) {
      throw chainRejected(error.reason, error.seq === undefined ? 'the device entries were refused' : `device entry ${error.seq} was refused`);
    }
    throw error;
  }
}

/** The device index rows a validated append implies. */
export function deviceChanges(before: PersonState | null, after: PersonState): ChainDeviceChanges {
  const linked = [...after.devices.values()].filter((d) => !before?.devices.has(d.fingerprint)).map((d) => ({ device: d.fingerprint, seq: d.addedSeq }));
  const unlinked = [...after.unlinked.values()].filter((d) => !before?.unlinked.has(d.fingerprint)).map((d) => ({ device: d.fingerprint, seq: d.removedSeq }));
  return { linked, unlinked };
}

function conflict(head: LogHead | null, what: string): Error {
  return apiError('CONFLICT', `${what}: fetch the chain (people.get), rebuild the change on its head and send it again`, head ? { head } : {});
}

/**
 * Appends `entries` to `person`'s stored chain with compare-and-set on `entries[0].seq`,
 * on behalf of the signed-in `device`, which must be a current device of the chain
 * the entries make (the founding device, for a new person).
 * @returns the new head.
 */
export async function appendToChain(store: Store, person: Fingerprint, entries: readonly DeviceEntry[], device: Fingerprint, now: number): Promise<LogHead> {
  for (const entry of entries) {
    if (entry.person !== person) throw apiError('BAD_REQUEST', `device entry ${entry.seq} belongs to another person: append each person's entries to their own chain`);
  }
  const first = entries[0]!.seq;
  const stored = await storedPerson(store, person);
  const nextSeq = stored ? stored.head.seq + 1 : 0;
  if (first !== nextSeq) {
    throw conflict(stored?.head ?? null, stored ? `the chain's head is entry ${stored.head.seq}, so the next entry is ${nextSeq}, not ${first}` : `no chain is stored for this person yet: publish it from its found entry (entry 0), not entry ${first}`);
  }
  if (nextSeq + entries.length > MAX_DEVICE_CHAIN_ENTRIES) {
    throw apiError('BAD_REQUEST', `a device chain holds at most ${MAX_DEVICE_CHAIN_ENTRIES} entries and this append would make it longer`);
  }
  const after = await validateChainEntries(stored?.state ?? null, person, entries, now);
  if (!stored && device !== person) throw apiError('FORBIDDEN', "a new person's chain is published by its founding device: sign in with the device the found entry names");
  if (!after.devices.has(device)) throw apiError('FORBIDDEN', "only a current device of this person can change their chain: the signed-in device is not one of the devices the chain names after these entries");
  const changes = deviceChanges(stored?.state ?? null, after);
  for (const { device: linked } of changes.linked) {
    const standing = await store.deviceStanding(linked);
    if (standing && standing.person !== person) throw chainRejected('device-claimed', `device ${linked} already belongs to another person`);
  }
  const result = await store.appendChain(person, [...entries], chainHead(after), changes);
  if (result.ok) return result.head;
  if ('claimed' in result) throw chainRejected('device-claimed', `device ${result.claimed.device} already belongs to another person`);
  throw conflict(result.head, 'another change reached the chain first');
}
