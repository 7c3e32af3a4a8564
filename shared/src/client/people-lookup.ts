/**
 * Looking a person up on the storage API (DESIGN §3): the chain the server answers is
 * input, never truth. It must name exactly the person asked for (a server that swaps in
 * another identity is refused by name), validate from its `found` entry, and extend the
 * chain this device pinned for that person (no rollback, no fork); then it is pinned.
 */
import type { PersonState } from '../crypto/device-chain.ts';
import { replayChain } from '../crypto/device-chain.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import type { DeviceEntry } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { call } from './errors.ts';
import type { PersonKeeper } from './person.ts';

/**
 * @throws {DeviceChainError} `wrong-person`, `rollback`, `fork`, or the rule an entry breaks;
 *   {ApiCallError} NOT_FOUND when the server holds no chain for the person.
 */
export async function lookUpPerson(api: ApiClient, people: PersonKeeper, person: Fingerprint, now: number): Promise<{ entries: DeviceEntry[]; state: PersonState }> {
  const answer = await call('looking up the person', () => api.people.get.query({ person }));
  const state = await replayChain(answer.entries, { person, now });
  await people.observe(state, { asLookup: true });
  return { entries: answer.entries, state };
}

/**
 * The group state with some devices taken out of `devices` (and so out of every
 * handover and box decision made on it): a view for sealing, never for building entries.
 */
export function withoutDevices(state: GroupState, drop: ReadonlySet<Fingerprint>): GroupState {
  if (drop.size === 0) return state;
  return { ...state, devices: new Map([...state.devices].filter(([fp]) => !drop.has(fp))) };
}
