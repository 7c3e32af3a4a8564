/**
 * What the API checks before it stores group-log entries (DESIGN §4: the server checks
 * the same rules as every client, as defence in depth): the server's clock, the log
 * rules themselves (`extendLog`, the code every client runs), invites still open by
 * the server's clock, and the index rows a validated append implies.
 *
 * Every refusal is an `apiError` whose message names the entry and says what to do; no
 * message carries a key, a signature or an invite id.
 */
import { extendLog, fingerprintOf, LogVerificationError, type DeviceEntry, type Fingerprint, type GroupState, type LogEntry, type LogRejection } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { AppendIndexes } from '../store/types.ts';

/**
 * Every entry's `at` must be within `skewMs` of the server's clock, in either direction.
 * Entries are dated when they are built and sent at once, so an entry far in the past
 * is as suspicious as one in the future: it is how an expired invite would be accepted
 * with a backdated `at`.
 */
export function checkClock(entries: readonly LogEntry[], now: number, skewMs: number): void {
  for (const entry of entries) {
    const drift = entry.at - now;
    if (Math.abs(drift) > skewMs) {
      const seconds = Math.round(Math.abs(drift) / 1000);
      throw apiError(
        'CLOCK_SKEW',
        `entry ${entry.seq} is dated ${seconds} s ${drift > 0 ? 'ahead of' : 'behind'} the server's clock (at most ${Math.round(skewMs / 1000)} s allowed): set this device's clock right, rebuild the entry and send it again`,
      );
    }
  }
}

/** Why a log was refused, in words for the person whose client sent it. */
const REJECTION_TEXT: Record<LogRejection, string> = {
  malformed: 'it is malformed or breaks the shape of the log',
  'bad-signature': 'a signature on it does not verify',
  'wrong-group': 'it belongs to another group',
  'bad-sequence': 'its sequence number is not the next one',
  'bad-link': 'it does not link to the previous entry',
  'not-admin': 'it needs an admin and its author is not one',
  'not-member': 'its author (or the member it names) is not a member',
  'already-member': 'it adds someone who is already a member',
  'unknown-invite': 'it accepts an invite that is not in the log',
  'invite-used': 'it uses an invite that was already used',
  'invite-expired': 'its invite has expired',
  'invite-revoked': 'its invite was cancelled when its author stopped being an admin',
  'bad-acceptance': 'its invite acceptance does not match the invite',
  'missing-rotation': 'it must start a new key generation and does not',
  'bad-generation': 'it starts the wrong key generation',
  'time-went-backwards': 'it is dated before the entry it follows',
  'time-in-future': "it is dated too far ahead of the server's clock",
  'last-admin': 'it would leave the group without a person as admin',
  'no-op': 'it changes nothing (the member already has that role)',
  rollback: 'it would roll the log back',
  fork: 'it would fork the log',
  'device-chain': "a person's device chain in it breaks the chain rules (a device not certified by that person's devices, a bad consent, a chain that does not continue the one the log holds)",
  'device-unlinked': 'it is signed by a device its person has unlinked',
  'device-claimed': "it gives a member a device that already speaks for another member (or, in the server's stored chains, for another person)",
};

export function logRejected(error: LogVerificationError): Error {
  const where = error.seq === undefined ? 'the entries were refused' : `entry ${error.seq} was refused`;
  return apiError('LOG_REJECTED', `${where} (${error.reason}): ${REJECTION_TEXT[error.reason]}. Sync the group log, rebuild the change on the current state and send it again`, {
    reason: error.reason,
  });
}

/** `extendLog` with the server's clock; a broken rule is LOG_REJECTED. */
export async function validateEntries(state: GroupState | null, entries: readonly LogEntry[], now: number): Promise<GroupState> {
  try {
    return await extendLog(state, entries, { now });
  } catch (error) {
    if (error instanceof LogVerificationError) throw logRejected(error);
    throw error;
  }
}

/**
 * An invite acceptance must reach the server while the invite is still open by the
 * server's clock. The log rules compare `expiresAt` with the entry's own `at`, which
 * the joiner chooses; `checkClock` bounds that to the allowed skew, and this closes
 * the remaining window: an acceptance arriving after `expiresAt` is refused, however
 * it is dated.
 */
export function checkAcceptancesOpen(after: GroupState, entries: readonly LogEntry[], now: number): void {
  for (const entry of entries) {
    if (entry.op !== 'add' || !entry.body.acceptance) continue;
    const invite = after.invites.get(entry.body.acceptance.invite);
    if (invite && invite.expiresAt < now) {
      throw apiError('INVITE_CLOSED', `entry ${entry.seq} accepts an invite that expired before it reached the server: ask for a new invite`);
    }
  }
}

/** Whether a device chain's entries found or link `device`. */
function chainLinks(chain: readonly DeviceEntry[], device: Fingerprint): boolean {
  return chain.some((e) => (e.op === 'found' || e.op === 'link') && fingerprintOf(e.body.device) === device);
}

/** The sequence number of the first entry in `entries` (up to `untilSeq`) that made `device` speak for a member. */
function admittedIn(entries: readonly LogEntry[], device: Fingerprint, untilSeq: number): number | undefined {
  for (const entry of entries) {
    if (entry.seq > untilSeq) break;
    const admits =
      entry.op === 'create'
        ? chainLinks(entry.body.creator, device)
        : entry.op === 'add'
          ? chainLinks(entry.body.member, device)
          : entry.op === 'devices'
            ? chainLinks(entry.body.entries, device)
            : entry.op === 'recovery'
              ? fingerprintOf(entry.body.recovery) === device
              : false;
    if (admits) return entry.seq;
  }
  return undefined;
}

/**
 * The index rows a validated append implies, one per device (the session is a device,
 * and `groups.mine` and the live streams look groups up by it): a `member` row for
 * every device that speaks for a member after these entries and did not before, a
 * departure row (`removed`, `left`, `replaced`, `unlinked`, with `untilSeq`) for every
 * device that stopped in them, and an invite row for every invite they create.
 * `before` is the state the entries extend (null for a new group), `after` the result.
 */
export function indexesFor(before: GroupState | null, after: GroupState, entries: readonly LogEntry[]): Omit<AppendIndexes, 'boxes'> {
  const firstSeq = entries[0]?.seq ?? after.seq + 1;
  const memberships: AppendIndexes['memberships'] = [];
  for (const device of after.devices.values()) {
    if (before?.devices.has(device.fingerprint)) continue;
    const sinceSeq = admittedIn(entries, device.fingerprint, after.seq) ?? after.members.get(device.person)?.joinedSeq ?? firstSeq;
    memberships.push({ fingerprint: device.fingerprint, status: 'member', sinceSeq, untilSeq: null });
  }
  for (const departed of after.departedDevices.values()) {
    if (departed.seq < firstSeq) continue;
    const sinceSeq = admittedIn(entries, departed.fingerprint, departed.seq) ?? before?.members.get(departed.person)?.joinedSeq ?? departed.seq;
    memberships.push({ fingerprint: departed.fingerprint, status: departed.how, sinceSeq, untilSeq: departed.seq });
  }
  const invites = [...after.invites.values()].filter((invite) => invite.seq >= firstSeq).map((invite) => ({ inviteId: invite.id }));
  return { memberships, invites };
}
