/**
 * A stored key wait as the pages show it (the `keyWaits` table is public: it keeps device
 * fingerprints only): each holder named, and the people this device must be verified by
 * before they hand the key over — those whose devices refused in the last round because
 * they have not verified this one (`verifyFirst`), so the popup can offer "Verify Ana"
 * right where it says "Waiting for Ana to verify you…".
 */
import type { GroupState } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { KeyWaitRow } from '../db/schema.ts';
import type { KeyWaitView } from '../messages/views.ts';
import type { Ctx } from './context.ts';
import { personFor } from './people.ts';

/**
 * The people (person ids, members of `state`) whose devices refused the key in the last
 * round because they have not verified this device — the one reading of it, for the
 * popup's "Verify Ana" and the verification tab's "Waiting for Ana to verify you".
 */
export function refusedForVerification(row: KeyWaitRow | undefined, state: GroupState): Fingerprint[] {
  if (row?.state.phase !== 'waiting') return [];
  const devices = row.state.attempts.filter((a) => a.outcome.kind === 'refused' && a.outcome.reason === 'not-verified').map((a) => a.peer);
  return [...new Set(devices.map((device) => personFor(state, device)))].filter((person) => state.members.has(person));
}

/** A stored key wait as shown: each holder named, and `verifyFirst` (see the file's note). */
export function namedKeyWait(ctx: Ctx, row: KeyWaitRow | undefined, state?: GroupState): KeyWaitView | null {
  if (!row) return null;
  const { groupId: _groupId, ...view } = row;
  const nameOf = (fingerprint: KeyWaitRow['holders'][number]['fingerprint']) => (state ? ctx.trust.labelledIn(state, fingerprint) : ctx.trust.labelledName(fingerprint));
  const people = state ? refusedForVerification(row, state) : [];
  return {
    ...view,
    holders: view.holders.map((h) => ({ ...h, name: nameOf(h.fingerprint) })),
    verifyFirst: people.map((person) => ({ person, name: ctx.trust.labelledIn(state!, person), ...(ctx.trust.trustOf(person) === 'verified' ? { youVerified: true as const } : {}) })),
  };
}
