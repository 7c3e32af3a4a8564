/**
 * Answering the key mailbox (DESIGN §6.3): an admin who comes online seals the current
 * generation's key to members waiting for it — but only to members of its own
 * validated log, and only those its trust rules allow: verified (QR or safety
 * number), or any member when the group's policy is `invite-trust`; never a member
 * whose key changed or who was marked removed.
 */
import { EncodingError } from '../crypto/errors.ts';
import { memberOfDevice, type GroupState } from '../crypto/group-log.ts';
import type { TrustState } from '../crypto/handshake.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { sealKeyBox } from '../crypto/key-box.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import type { KeyBox } from '../protocol/schemas.ts';

/** `unlinked`: the log still lists the device, but a device chain this device pinned has unlinked it. */
export type HandoverSkip = 'not-a-member' | 'not-verified' | 'key-changed' | 'removed' | 'unreachable' | 'unlinked';

export interface HandoverResult {
  sent: Fingerprint[];
  /** Requests not answered, and why (the UI shows these, e.g. "verify Bob first"). */
  skipped: Array<{ fingerprint: Fingerprint; reason: HandoverSkip }>;
}

/**
 * Seals `seed` (generation `generation`) to each requester the rules allow.
 * @param requesters fingerprints the server says are waiting (untrusted input).
 * @param trustOf this device's trust in each member (by person id).
 * @param unlinked devices unlinked in a chain this device pinned, which the log may still list.
 */
export async function sealForRequests(
  state: GroupState,
  sender: DeviceIdentity,
  generation: number,
  seed: Uint8Array,
  requesters: readonly string[],
  trustOf: (fingerprint: Fingerprint) => TrustState,
  unlinked: ReadonlySet<Fingerprint> = new Set(),
): Promise<{ result: HandoverResult; boxes: KeyBox[] }> {
  const result: HandoverResult = { sent: [], skipped: [] };
  const boxes: KeyBox[] = [];
  const seen = new Set<string>([sender.fingerprint]);
  for (const requester of requesters) {
    if (seen.has(requester)) continue;
    seen.add(requester);
    // Requesters are devices; trust is in the person each speaks for.
    const fingerprint = requester as Fingerprint;
    const member = memberOfDevice(state, fingerprint);
    const reason = !member || member.fingerprint === state.recovery ? 'not-a-member' : unlinked.has(fingerprint) ? 'unlinked' : handoverRefusal(state, member.fingerprint, trustOf(member.fingerprint), generation);
    if (reason) {
      result.skipped.push({ fingerprint, reason });
      continue;
    }
    try {
      boxes.push(await sealKeyBox(sender, state.groupId, generation, seed, { kind: 'member', id: fingerprint }, state.devices.get(fingerprint)!.boxKey));
      result.sent.push(fingerprint);
    } catch (error) {
      // A logged box key nothing can be sealed to: show it, do not stop for it.
      if (!(error instanceof EncodingError)) throw error;
      result.skipped.push({ fingerprint, reason: 'unreachable' });
    }
  }
  return { result, boxes };
}

/**
 * Why a hand-over of generation `generation` would skip this member (a person of the
 * group's log), or null when it would seal the key to them: the trust rule
 * `sealForRequests` applies, for pages that say beforehand whom to verify first. A
 * member who joined before the generation began was sealed its rotation already: a
 * missing or broken box is no reason to ask them to verify again.
 * @param person a member's person fingerprint in `state`.
 * @param trust this device's trust in that person.
 */
export function handoverRefusal(state: GroupState, person: Fingerprint, trust: TrustState, generation: number): Extract<HandoverSkip, 'not-verified' | 'key-changed' | 'removed'> | null {
  if (trust === 'key-changed' || trust === 'removed') return trust;
  const entitledBefore = (state.members.get(person)?.joinedSeq ?? Infinity) < (state.generations[generation]?.seq ?? 0);
  if (trust !== 'verified' && state.policy !== 'invite-trust' && !entitledBefore) return 'not-verified';
  return null;
}
