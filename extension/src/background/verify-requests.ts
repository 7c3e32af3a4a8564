/**
 * Verification (DESIGN §3): the safety number and this device's QR code for a member;
 * all per person (protocol v3): the safety number is computed over the two people's
 * founding bundles, the QR code names the two people, and verifying a person covers
 * every device their own devices certify — so it stays the same when either adds or
 * removes a device. `fingerprint` in these requests is always a person id.
 * a scanned QR code (checks both directions, then the next live handshake echoes its
 * secret so the other side verifies this device too); a compared or typed safety
 * number; and undoing a verification. Verifying a member lets an admin hand them the
 * key at once, and a scan by a device still waiting for the key starts a round.
 */
import { EncodingError } from '@conclave/shared/crypto';
import { devicesOf, isAdmin, logHead, memberOfDevice, type DeviceIdentity, type GroupState, type MemberInfo } from '@conclave/shared/crypto';
import { shortFingerprint } from '@conclave/shared/crypto';
import { checkScannedQr, encodeQrPayload, parseQrPayload } from '@conclave/shared/crypto';
import { normaliseTypedSafetyNumber, safetyNumber, safetyNumberGroups } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, PublicBundle } from '@conclave/shared/protocol';
import type { Request } from '../messages/protocol.ts';
import type { KeySideView, KeyWaitView, VerifyView } from '../messages/views.ts';
import type { Handed, VerifiedAnswer } from '../messages/answers.ts';
import { requireIdentity, type Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { BackgroundError, fail, isNetworkError } from './errors.ts';
import { connectedOrOffline, groupRow, holdsCurrentKey } from './group-state.ts';
import { handOverNow } from './groups.ts';
import { rememberScannedQr, type KeyWaits } from './key-wait.ts';
import { keyWaitOf } from './key-wait-rows.ts';
import { refusedForVerification } from './key-wait-view.ts';
import { shownQrSecret } from './shown-qr.ts';
import { offerKeyLive } from './holder.ts';
import { isMemberDevice, isMine, personFor } from './people.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

const RETRY_SCAN = 'Scan their code again; if it keeps failing, compare the safety numbers instead.';


function peerOf(ctx: Ctx, state: GroupState, fingerprint: Fingerprint, me: Fingerprint): MemberInfo {
  if (isMine(state, fingerprint, me)) fail('invalid-request', 'That is you: there is nothing to verify.', 'Choose another member.');
  const peer = state.members.get(fingerprint);
  if (!peer || fingerprint === state.recovery) fail('invalid-request', `${ctx.trust.labelledName(fingerprint)} is not a member of this group (any more).`, 'Sync the group and look at its members again.');
  return peer;
}

/**
 * The group as this device holds it, for the checks before a verification (no sync: the
 * SDK call that follows — the handover or the key round — syncs once itself), and the
 * connection, or null offline. Synced only when the member is missing from this
 * device's copy (they may have just joined).
 * @throws {BackgroundError} `fork` when that sync finds the log cannot be trusted.
 */
async function heldState(ctx: Ctx, groupId: GroupId, fingerprint: Fingerprint): Promise<{ connection: Connection | null; state: GroupState }> {
  const { state } = await groupRow(ctx, groupId);
  if (state.members.has(fingerprint)) {
    try {
      return { connection: await ctx.connections.get(), state };
    } catch (error) {
      if (error instanceof BackgroundError || !isNetworkError(error)) throw error;
      return { connection: null, state };
    }
  }
  return connectedOrOffline(ctx, groupId);
}

/**
 * This device's side of a verification: the person it speaks for and that person's
 * founding bundle (a linked device shows its person's, never its own).
 */
function myside(state: GroupState, identity: DeviceIdentity): { person: Fingerprint; bundle: PublicBundle } {
  const member = memberOfDevice(state, identity.fingerprint);
  return member ? { person: member.fingerprint, bundle: member.bundle } : { person: identity.fingerprint, bundle: identity.bundle };
}

/**
 * After verifying `person` on a device holding the key: live first — each of their devices
 * online is offered the key at once (holder.ts `offerKeyLive`), so two people comparing
 * numbers together never wait for the mailbox — then, on an admin's device, the mailbox
 * is answered for whoever still waits (their devices offline, or online but the live
 * hand-over did not finish). Best effort.
 * @returns how the key went to that person (answers.ts `Handed`).
 */
async function handOverAfterVerifying(ctx: Ctx, connection: Connection | null, groupId: GroupId, person: Fingerprint): Promise<Handed> {
  if (!connection) return null;
  const row = await groupRow(ctx, groupId);
  if (row.alarm || row.removed || !holdsCurrentKey(row)) return null;
  const live = await offerKeyLive(ctx, connection, groupId, person);
  if (live.sent.length > 0 && live.sent.length === live.online) return 'live';
  const unfinished = live.unfinished.length > 0;
  if (!isAdmin(row.state, connection.identity.fingerprint)) return live.sent.length > 0 ? 'live' : unfinished ? 'unfinished' : null;
  const answered = await handOverNow(ctx, connection, groupId).catch((error: unknown) => {
    console.warn('conclave: handing the key over after a verification failed', (error as Error).name);
    return null;
  });
  if (live.sent.length > 0) return 'live';
  if (answered?.sent.some((s) => personFor(row.state, s.fingerprint) === person)) return unfinished ? 'unfinished-mailbox' : 'mailbox';
  return unfinished ? 'unfinished' : null;
}

export async function verifyInfo(ctx: Ctx, request: Req<'verify.info'>): Promise<VerifyView> {
  const { groupId, fingerprint } = request;
  const identity = await requireIdentity(ctx.db);
  const me = identity.identity.fingerprint;
  const { connection, state } = await connectedOrOffline(ctx, groupId);
  const peer = peerOf(ctx, state, fingerprint, me);
  const secret = await shownQrSecret(ctx, groupId, fingerprint);
  const mine = myside(state, identity.identity);
  return {
    groupId,
    peer: { fingerprint, short: shortFingerprint(fingerprint), name: ctx.trust.displayName(fingerprint), trust: ctx.trust.view(state, fingerprint, me), devices: Math.max(1, devicesOf(state, fingerprint).length) },
    safetyNumber: safetyNumberGroups(safetyNumber(mine.bundle, peer.bundle)),
    qrText: encodeQrPayload({ from: mine.person, to: fingerprint, groupId, head: logHead(state), secret }),
    keySide: await keySide(ctx, connection, groupId, state, fingerprint, me),
  };
}

/**
 * What the key waits for between this device and `person` (views.ts `KeySideView`):
 * without the key, whether that person refused for want of verifying this one (the last
 * round says); with it, whether one of their devices waits in the mailbox (what an admin
 * can read; other members are not told who waits, so say nothing).
 */
async function keySide(ctx: Ctx, connection: Connection | null, groupId: GroupId, state: GroupState, person: Fingerprint, me: Fingerprint): Promise<KeySideView | null> {
  const row = await groupRow(ctx, groupId);
  if (row.removed || row.alarm) return null;
  const name = ctx.trust.displayName(person);
  if (!holdsCurrentKey(row)) {
    const refused = refusedForVerification(await keyWaitOf(ctx, groupId), state).includes(person);
    return { kind: 'you-wait', name, waitsFor: refused ? 'their-verification' : 'key', policy: state.policy };
  }
  if (!connection || !isAdmin(state, me)) return null;
  const pending = await connection.client.pendingRequests(groupId).catch(() => [] as Fingerprint[]);
  if (!pending.some((device) => personFor(state, device) === person)) return null;
  return { kind: 'they-wait', name, waitsFor: ctx.trust.view(state, person, me) === 'verified' ? 'them-online' : 'your-verification' };
}

export async function verifyScanned(ctx: Ctx, waits: KeyWaits, request: Req<'verify.scanned'>): Promise<VerifiedAnswer> {
  const { groupId, fingerprint } = request;
  const identity = await requireIdentity(ctx.db);
  const me = identity.identity.fingerprint;
  const { connection, state } = await heldState(ctx, groupId, fingerprint);
  peerOf(ctx, state, fingerprint, me);
  let payload;
  try {
    payload = parseQrPayload(request.text.trim());
  } catch (error) {
    if (!(error instanceof EncodingError)) throw error;
    const words = error.message.charAt(0).toUpperCase() + error.message.slice(1);
    fail('verification-failed', `${words}.`, RETRY_SCAN);
  }
  const result = checkScannedQr(payload, { fingerprint: myside(state, identity.identity).person, groupId, expectedPeer: fingerprint, headAt: (seq) => state.hashes[seq] });
  // A QR code is not signed: a head that does not match ours only fails this scan (never an
  // alarm); signed heads come from the handshake that follows a scan.
  if (!result.ok) fail('verification-failed', result.message, RETRY_SCAN);
  await ctx.trust.markVerified(fingerprint, 'qr');
  await rememberScannedQr(ctx, groupId, fingerprint, result.secret);
  // Holding the key already: still talk to them now (best effort), echoing their code's
  // secret so they verify this device too, and so each keeps the other's signed head.
  const row = await groupRow(ctx, groupId);
  if (connection && holdsCurrentKey(row) && !row.removed && !row.alarm) {
    await waits.exchangeHeads(connection, groupId, fingerprint, result.secret).catch((error: unknown) => console.warn('conclave: talking to a scanned member failed', (error as Error).name));
  }
  // Waiting for the key: go to them now, echoing their code's secret.
  return afterVerifying(ctx, waits, connection, groupId, fingerprint, me);
}

/**
 * After marking a member verified: a device still waiting for the key tries a round at
 * once (both people are likely together and online); a device holding the key offers it
 * live to the member's devices online, and an admin's answers the mailbox for the rest.
 */
async function afterVerifying(ctx: Ctx, waits: KeyWaits, connection: Connection | null, groupId: GroupId, fingerprint: Fingerprint, me: Fingerprint): Promise<VerifiedAnswer> {
  let keyWait: KeyWaitView | null = null;
  const row = await groupRow(ctx, groupId);
  let handed: Handed = null;
  if (connection && !holdsCurrentKey(row) && isMemberDevice(row.state, me) && !row.removed && !row.alarm) {
    // A key offer being answered now (they have likely just verified this device) is let
    // finish first, so it says "Key received from Ana"; a real round follows when it failed.
    keyWait = (await waits.offerSettled(groupId)) ?? await waits.round(connection, groupId).catch((error: unknown) => {
      if (error instanceof BackgroundError && error.code === 'fork') throw error;
      return null;
    });
  } else {
    handed = await handOverAfterVerifying(ctx, connection, groupId, fingerprint);
  }
  ctx.changed(groupId);
  const after = await groupRow(ctx, groupId);
  return { fingerprint, trust: ctx.trust.view(after.state, fingerprint, me), keyWait, hasKey: holdsCurrentKey(after), handed };
}

export async function verifyConfirm(ctx: Ctx, waits: KeyWaits, request: Req<'verify.confirm'>): Promise<VerifiedAnswer> {
  const { groupId, fingerprint } = request;
  const identity = await requireIdentity(ctx.db);
  const me = identity.identity.fingerprint;
  const { connection, state } = await heldState(ctx, groupId, fingerprint);
  const peer = peerOf(ctx, state, fingerprint, me);
  if (request.typed !== undefined && request.typed.trim() !== '') {
    const typed = normaliseTypedSafetyNumber(request.typed);
    if (!typed) fail('verification-failed', 'That is not a whole safety number: it has 60 digits, in 12 groups of five.', 'Type all twelve groups of five digits as they are read out to you.');
    if (typed !== safetyNumber(myside(state, identity.identity).bundle, peer.bundle)) {
      fail(
        'verification-failed',
        `These digits do not match the safety number for ${ctx.trust.labelledName(fingerprint)}.`,
        'Compare them again, group by group. If they really differ, do not mark them verified: someone may be in between.',
      );
    }
  }
  await ctx.trust.markVerified(fingerprint, 'safety-number');
  return afterVerifying(ctx, waits, connection, groupId, fingerprint, me);
}

export async function verifyReset(ctx: Ctx, request: Req<'verify.reset'>): Promise<VerifiedAnswer> {
  const { groupId, fingerprint } = request;
  const identity = await requireIdentity(ctx.db);
  const row = await groupRow(ctx, groupId);
  await ctx.trust.reset(fingerprint);
  ctx.changed(groupId);
  return { fingerprint, trust: ctx.trust.view(row.state, fingerprint, identity.identity.fingerprint), keyWait: null, hasKey: holdsCurrentKey(row), handed: null };
}
