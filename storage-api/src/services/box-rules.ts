/**
 * The server's checks on key boxes before it stores one (DESIGN §5, PROTOCOL §7), the
 * public part of what `openKeyBox` checks on every client: the right group, a
 * generation the log has, a recipient who may receive it now, a sender who held that
 * generation, and the sender's signature. The server cannot open a box, so whether the
 * seed inside matches the log's commitment stays the recipient's check.
 *
 * Senders and recipients are devices (a member is a person with one or more devices):
 * a box goes to a current device of a current member, from a device that spoke for a
 * member while its generation was current.
 *
 * Boxes are stored per sender (store/types.ts), so a member who passes these checks
 * with a junk seed adds a box beside the good ones and replaces nothing; the recipient
 * tries each. A member's box to itself is how it confirms it opened a generation (the
 * mailbox counts it): a member can only confirm for itself, and a false confirmation
 * only takes its own request off the list.
 */
import { currentGeneration, fromBase64url, LABELS, parseBundle, verifyLabelled, type Fingerprint, type GroupState, type KeyBox } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';

function rejected(index: number, why: string): Error {
  return apiError('BOX_REJECTED', `key box ${index} was refused: ${why}`);
}

/** A device's sign key while it speaks for a member, or after (for the boxes of its time), from the validated log. */
function signKeyOfDevice(state: GroupState, device: Fingerprint): Uint8Array | undefined {
  const current = state.devices.get(device);
  if (current) return current.signKey;
  const departed = state.departedDevices.get(device);
  return departed ? fromBase64url(departed.bundle.signKey, 32) : undefined;
}

/**
 * Checks every box against `state` (the log as it is once the call's entries, if any,
 * are appended) and throws BOX_REJECTED naming the first bad box and why.
 * @param sender the signed-in device: every box must be its own.
 * @param now the server's clock, which decides whether an invite is still open.
 * @param inviteGraceMs how long after its expiry an invite still takes a box: a client
 *   whose clock is a little behind seals a rotation to every invite it thinks open, and
 *   such a box is harmless (an expired invite is never looked up nor accepted), so the
 *   rotation must not fail for it. The API passes the allowed clock skew.
 */
export async function validateBoxes(
  state: GroupState,
  boxes: readonly KeyBox[],
  sender: Fingerprint,
  now: number,
  inviteGraceMs = 0,
  unlinked: ReadonlySet<Fingerprint> = new Set(),
): Promise<void> {
  const current = currentGeneration(state);
  for (const [index, box] of boxes.entries()) {
    if (box.groupId !== state.groupId) throw rejected(index, 'it is for another group: post each group its own boxes');
    if (box.sender !== sender) throw rejected(index, 'its sender is not the signed-in device: post only boxes this device sealed and signed');
    const generation = state.generations[box.generation];
    if (box.generation > current || !generation) {
      throw rejected(index, `it is for generation ${box.generation}, but the group log is at generation ${current}: sync the log and seal the current key`);
    }
    if (box.recipient.kind === 'member') {
      // Recipients are devices: every current device of every current member, nothing else.
      if (!state.devices.has(box.recipient.id)) {
        const departed = state.departedDevices.get(box.recipient.id)?.how === 'unlinked';
        throw rejected(index, departed ? 'its recipient is a device its person has unlinked: seal keys only to current devices' : 'its recipient is not a current device of a member of the group: seal keys only to the devices the log lists');
      }
      // The log may not have caught up with the person's chain yet: the stored chains decide too.
      if (unlinked.has(box.recipient.id)) throw rejected(index, "its recipient is a device its person has unlinked (the person's stored chain says so): seal keys only to current devices");
    } else {
      const invite = state.invites.get(box.recipient.id);
      if (!invite) throw rejected(index, 'it is for an invite that is not in the group log');
      if (invite.usedBy || invite.revokedAt !== undefined || invite.expiresAt < now - inviteGraceMs) throw rejected(index, 'its invite is no longer open (used, cancelled or expired)');
      if (!invite.boxKey) throw rejected(index, 'its invite is not pre-keyed, so nothing can be sealed to it');
    }
    // Whoever started the generation is counted too (a safeguard: since a leave carries
    // no key, every rotation's author is a member of the generation it starts).
    if (!generation.devices.has(sender) && generation.startedBy !== sender) {
      throw rejected(index, `its sender was not a member's device during generation ${box.generation}, so cannot hold that key`);
    }
    const signKey = signKeyOfDevice(state, sender);
    const { sig, ...unsigned } = box;
    if (!signKey || !(await verifyLabelled(signKey, sig, LABELS.keyBoxSignature, unsigned))) {
      throw rejected(index, "its signature does not verify under the sender's key: seal and sign it again");
    }
  }
}

/**
 * The newest generation `device` confirms holding with these boxes (a box sealed to
 * itself), or -1. The caller marks its key request served up to it (validated boxes only).
 */
export function confirmedGeneration(boxes: readonly KeyBox[], device: Fingerprint): number {
  let newest = -1;
  for (const box of boxes) {
    if (box.sender === device && box.recipient.kind === 'member' && box.recipient.id === device) newest = Math.max(newest, box.generation);
  }
  return newest;
}

/**
 * A new generation must arrive with its boxes: one from its author for every other
 * current device of every member whose box key can be sealed to (the recovery key
 * included), in the same append. Without this an admin could commit to a seed nobody
 * receives and leave no box to name it by; with it, a member who finds no box knows the
 * server withheld it, and a bad box carries its author's signature (DESIGN §4).
 * @param before the state before the call's entries; `after` the state once they apply.
 * @param exempt devices no box is required for: those a stored device chain has
 *   unlinked while this log still lists them (they are refused everything anyway).
 */
export async function requireRotationBoxes(before: GroupState, after: GroupState, boxes: readonly KeyBox[], author: Fingerprint, exempt: ReadonlySet<Fingerprint> = new Set()): Promise<void> {
  for (let generation = before.generations.length; generation < after.generations.length; generation++) {
    const sealedTo = new Set(boxes.filter((b) => b.generation === generation && b.sender === author && b.recipient.kind === 'member').map((b) => b.recipient.id));
    for (const device of after.devices.values()) {
      if (device.fingerprint === author || sealedTo.has(device.fingerprint) || exempt.has(device.fingerprint)) continue;
      // A logged box key nothing can be sealed to is skipped by clients too (`unreachable`).
      const usable = await parseBundle(device.bundle).then(
        () => true,
        () => false,
      );
      if (!usable) continue;
      throw apiError(
        'BOX_REJECTED',
        `generation ${generation} starts in this call but has no key box from its author for device ${device.fingerprint} of member ${device.person}: seal the new key to every current device of every member and send the boxes with the entry`,
      );
    }
  }
}
