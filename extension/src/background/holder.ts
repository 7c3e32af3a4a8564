/**
 * The key holder's side of the live handover (DESIGN §6.3): another device opened a
 * channel to this one; run the holder handshake for the group its hello names. The
 * group is looked up (and synced) only then. If this device is showing that joiner a
 * QR code and the joiner echoes its secret, the joiner is marked verified ("qr") and
 * the code is used up. The joiner's signed log head is kept (GroupClient.notePeerHead):
 * ahead of ours it is a witnessed head, contradicting ours fork evidence (DESIGN §4).
 */
import type { MessageChannel } from '@conclave/shared/p2p';
import { devicesOf, parseHandshakeMessage, type HandshakeOutcome } from '@conclave/shared/crypto';
import { fingerprintOf } from '@conclave/shared/crypto';
import { HANDSHAKE_TIMEOUT_MS, keyOfferMessage, serveChannel, type HeldGroup } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { groupRowOf } from '../db/key-store.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { personFor } from './people.ts';
import { activeShownQr, useUpShownQr } from './shown-qr.ts';

/**
 * Takes over a channel at once: what arrives before the handshake is attached (this
 * device still loading its keys) is kept and replayed, and the joiner's claimed
 * fingerprint is read from its hello (the handshake itself checks the claim).
 */
function watchHello(channel: MessageChannel): { channel: MessageChannel; joiner: () => Fingerprint | undefined } {
  let joiner: Fingerprint | undefined;
  let first = true;
  const early: unknown[] = [];
  let closedEarly = false;
  let onMessage: ((data: unknown) => void) | null = null;
  let onClose: (() => void) | null = null;
  channel.onMessage((data) => {
    if (first) {
      first = false;
      const message = parseHandshakeMessage(data);
      if (message?.t === 'hello') joiner = fingerprintOf(message.bundle);
    }
    if (onMessage) onMessage(data);
    else early.push(data);
  });
  channel.onClose(() => {
    if (onClose) onClose();
    else closedEarly = true;
  });
  return {
    joiner: () => joiner,
    channel: {
      send: (text) => channel.send(text),
      close: () => channel.close(),
      onMessage: (handler) => {
        onMessage = handler;
        for (const data of early.splice(0)) handler(data);
      },
      onClose: (handler) => {
        onClose = handler;
        if (closedEarly) handler();
      },
    },
  };
}

/** Serves one incoming channel; never throws (a failure closes the channel). */
export async function serveIncoming(ctx: Ctx, channel: MessageChannel): Promise<HandshakeOutcome | null> {
  const watched = watchHello(channel);
  let connection;
  try {
    await ctx.trust.refresh();
    connection = await ctx.connections.get();
  } catch {
    channel.close();
    return null;
  }
  const { client, identity } = connection;
  const confirmations: Array<Promise<void>> = [];
  let servedGroup: GroupId | undefined;
  let headsSeen = 0;
  const lookup = async (groupId: GroupId, requester: Fingerprint): Promise<HeldGroup | null> => {
    const row = await groupRowOf(ctx.db, groupId);
    if (!row || row.alarm || row.removed) return null;
    const held = await client.heldGroup(groupId, requester);
    if (!held) return null;
    servedGroup = groupId;
    // The joiner's hello names a device; the QR code was shown to the person it speaks for.
    const device = watched.joiner();
    const joiner = device ? personFor(held.state, device) : undefined;
    const shown = joiner ? await activeShownQr(ctx, groupId, joiner) : undefined;
    return {
      ...held,
      ...(shown && joiner ? { shownQr: { secret: shown.secret, for: joiner } } : {}),
      onQrConfirmed: (person) => {
        confirmations.push(ctx.trust.markVerified(person, 'qr').then(() => useUpShownQr(ctx, groupId, person)));
      },
      notePeerHead: (evidence) => {
        headsSeen++;
        return client.notePeerHead(groupId, evidence);
      },
    };
  };
  const outcome = await serveChannel(watched.channel, identity, lookup, ctx.handshakeTimeoutMs !== undefined ? { timeoutMs: ctx.handshakeTimeoutMs } : {});
  if (servedGroup && outcome.kind === 'sent') ctx.servedLive.set(`${servedGroup}|${outcome.peer}`, ctx.now());
  await Promise.allSettled(confirmations);
  if (servedGroup && (outcome.kind === 'sent' || confirmations.length > 0 || headsSeen > 0)) ctx.changed(servedGroup);
  return outcome;
}

/** What offering the key live to a person's devices came to. */
export interface LiveOffer {
  /** Their devices that took the key over the live channel just now. */
  sent: Fingerprint[];
  /**
   * Their devices online that were offered the key but did not take it: the channel never
   * opened or timed out, or the handshake started and failed — not those that closed it
   * unanswered at once (they hold the key already, or answer another offer).
   */
  unfinished: Fingerprint[];
  /** Their devices that were online (offered the key). */
  online: number;
}

/**
 * Both online, just verified (DESIGN §6.3): this device holds the key and has just marked
 * `person` verified, so it dials each of their devices that is online, all at once, and
 * offers the key (`key-offer`); a device still waiting answers with the ordinary joiner
 * handshake on that channel, served here exactly as an incoming one (`serveIncoming`: the
 * same checks, trust and signed heads). The key so passes live, peer to peer, instead of
 * waiting in the mailbox for the joiner's next round; the whole offer takes one handshake's
 * time at most, however many devices. Devices that hold the key already close the channel.
 * Best effort: never throws (the mailbox remains the way when it fails).
 */
export async function offerKeyLive(ctx: Ctx, connection: Connection, groupId: GroupId, person: Fingerprint): Promise<LiveOffer> {
  const none: LiveOffer = { sent: [], unfinished: [], online: 0 };
  try {
    const row = await groupRowOf(ctx.db, groupId);
    if (!row || row.removed || row.alarm || !holdsCurrentKey(row)) return none;
    const me = connection.identity.fingerprint;
    const devices = devicesOf(row.state, person)
      .map((d) => d.fingerprint)
      .filter((d) => d !== me);
    if (devices.length === 0) return none;
    await ctx.transport.start();
    const online = await ctx.transport.online(devices);
    const results = await Promise.all(online.map((device) => offerTo(ctx, connection, groupId, device)));
    return {
      sent: online.filter((_, i) => results[i] === 'sent'),
      unfinished: online.filter((_, i) => results[i] === 'unfinished'),
      online: online.length,
    };
  } catch (error) {
    console.warn('conclave: offering the key live failed', (error as Error).name);
    return none;
  }
}

/** One device offered the key: it took it, it closed the channel unanswered at once, or the hand-over did not finish. */
async function offerTo(ctx: Ctx, connection: Connection, groupId: GroupId, device: Fingerprint): Promise<'sent' | 'declined' | 'unfinished'> {
  const offeredAt = ctx.now();
  const channel = ctx.transport.connect(device);
  let answered = false;
  let closedByUs = false;
  let closedByThem = false;
  channel.send(JSON.stringify(keyOfferMessage(groupId, connection.identity.fingerprint)));
  // Served as an incoming channel, watched on the way: did their device say anything, and who closed it.
  const outcome = await serveIncoming(ctx, {
    send: (text) => channel.send(text),
    onMessage: (handler) =>
      channel.onMessage((data) => {
        answered = true;
        handler(data);
      }),
    onClose: (handler) =>
      channel.onClose(() => {
        if (!closedByUs) closedByThem = true;
        handler();
      }),
    close: () => {
      closedByUs = true;
      channel.close();
    },
  });
  if (outcome?.kind === 'sent' && outcome.peer === device) return 'sent';
  // Closed by their device before it said anything: it does not wait for this key now —
  // often because its own round reached this device just before the offer, and was served
  // the key live here (the two cross when both people press "The numbers match" together).
  if (!answered && closedByThem) return servedJustBefore(ctx, groupId, device, offeredAt) ? 'sent' : 'declined';
  return 'unfinished';
}

/** Whether this worker served `device` the key of `groupId` live within one handshake's time before `at` (or since). */
function servedJustBefore(ctx: Ctx, groupId: GroupId, device: Fingerprint, at: number): boolean {
  const served = ctx.servedLive.get(`${groupId}|${device}`);
  return served !== undefined && served >= at - (ctx.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
}
