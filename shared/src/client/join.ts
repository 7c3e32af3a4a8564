/**
 * Joining with an invite code (DESIGN §6): look the invite up by its public id,
 * validate the whole log on this device, append this device's own `add` signed with
 * the invite key, and open the pre-keyed box if there is one. The server never sees
 * the code or its secret.
 */
import type { GenerationFault } from '../crypto/generations.ts';
import { currentGeneration, logHead, memberOfDevice, type GroupState } from '../crypto/group-log.ts';
import { signLabelled, type DeviceIdentity } from '../crypto/identity.ts';
import { LABELS } from '../crypto/labels.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import type { DeviceEntry } from '../protocol/schemas.ts';
import { toBase64url } from '../protocol/encoding.ts';
import { acceptInvite, inviteOpener, type InviteKeys } from '../crypto/invite.ts';
import { openSeedBoxes } from '../crypto/key-box.ts';
import { extendLog, replayLog } from '../crypto/log-replay.ts';
import type { ApiClient } from './api-session.ts';
import { ApiCallError, call, GroupClientError } from './errors.ts';
import type { GroupRecord } from './key-store.ts';
import { mergeFaults, withNewestKey } from './key-fetch.ts';
import { fetchAndReplay } from './log-sync.ts';

const ATTEMPTS = 4;

/**
 * The proof `invites.lookup` asks for: the invite key's signature over the group, the
 * invite and the signed-in device, so the server answers only a holder of the invite
 * code (the invite id alone is in the log every member, past or present, has read),
 * and a proof made for one device is no use to another.
 */
export function inviteLookupProof(keys: InviteKeys, device: Fingerprint): Promise<string> {
  return signLabelled(keys, LABELS.inviteLookup, { groupId: keys.groupId, inviteId: keys.inviteId, fingerprint: device });
}

/**
 * @param chain the device chain of this device's person: the person joins, with every device of theirs.
 * @returns this device's new record of the group (with seeds when the invite was pre-keyed).
 * @throws {InviteError} used, expired or unknown by the validated log; {ApiCallError}
 *   INVITE_CLOSED / NOT_FOUND from the server.
 */
export async function joinWithInvite(api: ApiClient, identity: DeviceIdentity, keys: InviteKeys, now: () => number, chain?: DeviceEntry[]): Promise<GroupRecord> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let found;
    try {
      const proof = await inviteLookupProof(keys, identity.fingerprint);
      found = await call('looking up the invite', () => api.invites.lookup.query({ inviteId: keys.inviteId, proof }));
    } catch (error) {
      // Used: perhaps by this very device, whose join was stored but whose answer was lost.
      if (error instanceof ApiCallError && error.is('INVITE_CLOSED')) {
        const mine = await recordIfAcceptedBy(api, identity, keys, now, chain?.[0]?.person ?? identity.fingerprint);
        if (mine) return mine;
      }
      throw error;
    }
    if (found.groupId !== keys.groupId) throw new GroupClientError('mismatch', 'the server answered with another group for this invite');
    const state = await replayLog(found.entries, { now: now() });
    if (state.groupId !== keys.groupId) throw new GroupClientError('mismatch', 'the server answered with the log of another group');
    const entry = await acceptInvite(state, keys, identity, now(), chain);
    const joined = await extendLog(state, [entry], { now: now() });
    try {
      await call('joining the group', () => api.groups.append.mutate({ groupId: keys.groupId, entries: [entry], boxes: [] }));
    } catch (error) {
      if (error instanceof ApiCallError && error.is('CONFLICT')) continue;
      throw error;
    }
    // Every sender's box for the invite: any member could have posted a junk one beside
    // the good one. Bad ones are kept as attributed faults; the mailbox remains. A
    // pre-keyed invite whose logged box key is not the code's: its boxes can never be
    // opened, and the fault is its author's, not the fault of whoever sealed to it.
    const faults: GenerationFault[] = [];
    const invite = joined.invites.get(keys.inviteId);
    const mismatched = invite?.boxKey !== undefined && invite.boxKey !== toBase64url(keys.boxKeys.publicBytes);
    if (mismatched) {
      faults.push({
        generation: currentGeneration(joined),
        kind: 'bad-invite',
        author: invite.author,
        at: (found.entries[invite.seq] as { at?: number } | undefined)?.at ?? 0,
        detail: 'the invite was logged with a key that does not belong to its code, so its pre-keyed key can never be opened',
      });
    }
    const opened = mismatched ? { seeds: new Map<number, Uint8Array>(), faults: [] } : await openSeedBoxes(found.boxes, inviteOpener(keys), joined);
    const seeds = opened.seeds;
    faults.push(...opened.faults);
    const merged = mergeFaults(undefined, faults);
    return { groupId: keys.groupId, state: joined, pinned: logHead(joined), seeds, ...(merged ? { faults: merged } : {}) };
  }
  throw new GroupClientError('busy', 'the group log kept changing while joining: try again');
}

/** The group's record, if its validated log shows the invite used by this device's person (and this device a current one of theirs). */
async function recordIfAcceptedBy(api: ApiClient, identity: DeviceIdentity, keys: InviteKeys, now: () => number, person: Fingerprint): Promise<GroupRecord | null> {
  let state: GroupState;
  try {
    state = await fetchAndReplay(api, keys.groupId, now());
  } catch (error) {
    if (error instanceof ApiCallError) return null;
    throw error;
  }
  if (state.invites.get(keys.inviteId)?.usedBy !== person || memberOfDevice(state, identity.fingerprint)?.fingerprint !== person) return null;
  return withNewestKey(api, identity, { groupId: keys.groupId, state, pinned: logHead(state), seeds: new Map() });
}
