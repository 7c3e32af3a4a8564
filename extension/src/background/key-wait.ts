/**
 * Waiting for the group key after joining (DESIGN §6.3), one round at a time: a box
 * already in the mailbox, else live from an online member, else a mailbox request.
 * Every state of a round is written to the `keyWaits` table with the members who
 * could hand the key over and whether they are online (their names are added when
 * shown: the table is public), so the popup can say "waiting for Ana or Ben to come
 * online…" even after the service worker was stopped; the next tick runs the next
 * round. When the key arrives the row goes, and this device publishes its profile.
 *
 * A QR code this device scanned from a member is remembered for ten minutes (in the
 * drafts table, which is secret), so the next handshake with that member echoes its
 * secret and both sides end up verified.
 *
 * Every holder's signed log head is kept (GroupClient.notePeerHead, DESIGN §4). A fork
 * is only ever a signed head that contradicts ours: it is kept as evidence, shown as
 * the group's peer alarm (group-state.ts) and cleared when the heads reconcile —
 * `recheckPeers` dials the members named by such evidence on every tick to find out.
 * A peer's unsigned refusal is only "could not get the key from them".
 */
import { runHandshake } from '@conclave/shared/p2p';
import { LogVerificationError } from '@conclave/shared/crypto';
import { devicesOf, JoinerHandshake } from '@conclave/shared/crypto';
import type { KeyOffer, MessageChannel, PeerAttempt } from '@conclave/shared/p2p';
import { keyHolderCandidates, receiveKeyFromPeers, receiveKeyOnChannel } from '@conclave/shared/p2p';
import { keyWaitRound, type KeyWaitState } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { groupRowOf } from '../db/key-store.ts';
import type { KeyWaitRow } from '../db/schema.ts';
import type { KeyWaitView } from '../messages/views.ts';
import { requireIdentity, type Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { deleteDraft, draftsStartingWith, putDraftRow } from './drafts.ts';
import { alarmFor, holdsCurrentKey, syncGroup } from './group-state.ts';
import { forgetKeyWait, keepKeyWait, keyWaitOf, restoreKeyWait } from './key-wait-rows.ts';
import { ensureProfile } from './names.ts';
import { refreshNotes } from './note-cache.ts';
import { isMemberDevice, personFor } from './people.ts';

export const SCANNED_QR_PREFIX = 'background.qrScanned:';
const SCANNED_QR_TTL_MS = 10 * 60_000;

function scannedKey(groupId: GroupId, peer: Fingerprint): string {
  return `${SCANNED_QR_PREFIX}${groupId}:${peer}`;
}

/** Remembers the secret of a QR code scanned from `peer` (a person), for the next handshake with any of their devices. */
export async function rememberScannedQr(ctx: Ctx, groupId: GroupId, peer: Fingerprint, secret: string): Promise<void> {
  await putDraftRow(ctx, { key: scannedKey(groupId, peer), value: secret, at: ctx.now() });
}

async function scannedSecrets(ctx: Ctx, groupId: GroupId): Promise<Map<Fingerprint, string>> {
  const prefix = `${SCANNED_QR_PREFIX}${groupId}:`;
  const rows = await draftsStartingWith(ctx, prefix);
  const secrets = new Map<Fingerprint, string>();
  for (const row of rows) {
    if (ctx.now() - row.at > SCANNED_QR_TTL_MS || typeof row.value !== 'string') {
      await deleteDraft(ctx, row.key);
      continue;
    }
    secrets.set(row.key.slice(prefix.length) as Fingerprint, row.value);
  }
  return secrets;
}

/**
 * A round's state as it may be stored (the table is public): a seed a peer sent that did
 * not match the log is not kept, nor is signed evidence (it lives in the group's record).
 */
function storable(state: KeyWaitState): KeyWaitState {
  if (state.phase !== 'waiting') return state;
  const attempts: PeerAttempt[] = state.attempts.map((a) =>
    a.outcome.kind === 'received'
      ? { peer: a.peer, outcome: { kind: 'refused', reason: 'malformed', by: 'me', peer: a.peer } }
      : a.outcome.kind === 'fork'
        ? { peer: a.peer, outcome: { kind: 'refused', reason: 'fork', by: 'me', peer: a.peer } }
        : a,
  );
  return { ...state, attempts };
}

export class KeyWaits {
  /** The round running per group (`round` joins it). */
  private readonly running = new Map<GroupId, Promise<KeyWaitView | null>>();
  /** The key offer being answered per group, apart from rounds: a round never joins one. */
  private readonly offers = new Map<GroupId, Promise<KeyWaitView | null>>();

  constructor(private readonly ctx: Ctx) {}

  /** Rounds and offers still running (tests wait for them). */
  idle(): Promise<unknown> {
    return Promise.allSettled([...this.running.values(), ...this.offers.values()]);
  }

  /**
   * Runs one round for a group without the current key (joining it to a round already
   * running). Returns the final view, or null when the key was already here.
   * @throws {BackgroundError} `fork` when a log or a peer contradicts ours; API errors.
   */
  round(connection: Connection, groupId: GroupId): Promise<KeyWaitView | null> {
    let run = this.running.get(groupId);
    if (!run) {
      const started: Promise<KeyWaitView | null> = this.runRound(connection, groupId).finally(() => {
        if (this.running.get(groupId) === started) this.running.delete(groupId);
      });
      run = started;
      this.running.set(groupId, run);
    }
    return run;
  }

  private async runRound(connection: Connection, groupId: GroupId): Promise<KeyWaitView | null> {
    const { ctx } = this;
    const { client, identity } = connection;
    const me = identity.fingerprint;
    // The round checks the mailbox itself first.
    const state = await syncGroup(ctx, connection, groupId, { fetchKey: false });
    const row = await groupRowOf(ctx.db, groupId);
    if (!row || !isMemberDevice(state, me)) return null;
    if (holdsCurrentKey(row)) {
      await forgetKeyWait(ctx, groupId);
      return null;
    }
    await ctx.trust.refresh();
    const candidates = keyHolderCandidates(state, me);
    let online = new Set<Fingerprint>();
    // Stored without names (the keyWaits table is public); names are filled in when shown.
    const view = (wait: KeyWaitState, named = true): KeyWaitView => ({
      state: storable(wait),
      // Holders are devices; each is named by the person it speaks for.
      holders: candidates.map((fingerprint) => ({ fingerprint, name: named ? ctx.trust.labelledIn(state, fingerprint) : '', online: online.has(fingerprint) })),
      updatedAt: ctx.now(),
    });
    let writes: Promise<unknown> = Promise.resolve();
    const persist = (wait: KeyWaitState) => {
      const next: KeyWaitRow = { groupId, ...view(wait, false) };
      writes = writes.then(() => keepKeyWait(ctx, next)).then(() => ctx.changed(groupId));
    };
    const previous = await keyWaitOf(ctx, groupId);
    const secrets = await scannedSecrets(ctx, groupId);
    let final: KeyWaitState;
    try {
      final = await keyWaitRound(
        {
          tryPeers: async (onConnecting) => {
            await ctx.transport.start();
            return receiveKeyFromPeers(
              identity,
              state,
              {
                online: async (ids) => {
                  const found = await ctx.transport.online(ids);
                  online = new Set(found);
                  return found;
                },
                connect: (peer) => ctx.transport.connect(peer),
              },
              {
                // Scanned codes are kept per person; the peer on the channel is one of their devices.
                qrSecretFor: (peer) => secrets.get(personFor(state, peer)),
                onConnecting,
                notePeerHead: (evidence) => client.notePeerHead(groupId, evidence),
                ...(ctx.handshakeTimeoutMs !== undefined ? { timeoutMs: ctx.handshakeTimeoutMs } : {}),
              },
            );
          },
          acceptSeed: (generation, seed) => client.acceptHandedKey(groupId, generation, seed),
          requestFromMailbox: () => client.requestKey(groupId),
          checkMailbox: () => client.fetchKey(groupId),
        },
        persist,
      );
    } catch (error) {
      await writes;
      // The round broke off (storage API down): show what was known before it.
      await keepKeyWait(ctx, previous ?? { groupId, ...view({ phase: 'waiting', why: 'nobody-online', attempts: [] }, false) });
      if (error instanceof LogVerificationError) throw await alarmFor(ctx, groupId, error);
      throw error;
    }
    await writes;
    // A fork here was signed by the holder: it is kept in the group's record (notePeerHead)
    // and shown as the group's peer alarm until the heads reconcile — never a permanent lock.
    if (final.phase === 'fork') ctx.changed(groupId);
    if (final.phase === 'received') {
      await forgetKeyWait(ctx, groupId);
      for (const peer of secrets.keys()) await deleteDraft(ctx, scannedKey(groupId, peer));
      await this.afterKeyArrived(connection, groupId);
    } else if (holdsCurrentKey((await groupRowOf(ctx.db, groupId)) ?? row)) {
      // The key came another way while this round ran (a sync opened a box that arrived
      // after the round checked the mailbox): the wait it just kept is over.
      await forgetKeyWait(ctx, groupId);
      ctx.changed(groupId);
      return null;
    }
    return view(final);
  }

  /**
   * A holder opened a channel and offered the key (it has just verified this device's
   * person, and both are online): answer with the joiner's handshake on that channel,
   * expecting exactly the offering device, and keep the key as a round would ("Key
   * received from Ana", live). The offer is unsigned, so anyone may send one: one that
   * does not name a device of this device's own log's key holders (`keyHolderCandidates`),
   * or for a group whose key is not awaited, is closed unanswered before anything is
   * shown or synced. One offer at a time per group — another arriving meanwhile is closed
   * unanswered — and an offer never stands in for a round (`round` never joins it), so the
   * joiner's own rounds go on whatever offers arrive. Never throws.
   */
  async offered(channel: MessageChannel, offer: KeyOffer): Promise<void> {
    const { groupId } = offer;
    // Claimed at once, before anything is awaited: two offers arriving together never both run.
    if (this.offers.has(groupId)) return channel.close();
    const run: Promise<KeyWaitView | null> = this.answerOffer(channel, offer).finally(() => {
      if (this.offers.get(groupId) === run) this.offers.delete(groupId);
    });
    this.offers.set(groupId, run);
    await run;
  }

  /**
   * The offer being answered for this group, once it is over: the key's view when it
   * brought the key ("Key received from Ana"), else null (none, or it failed: the caller
   * runs a round). For a verification just made — the other side has likely just verified
   * this device too and is handing the key over —, never for the tick's rounds.
   */
  async offerSettled(groupId: GroupId): Promise<KeyWaitView | null> {
    return (await this.offers.get(groupId)) ?? null;
  }

  private async answerOffer(channel: MessageChannel, offer: KeyOffer): Promise<KeyWaitView | null> {
    const { ctx } = this;
    const { groupId, from } = offer;
    try {
      // A round already running finishes first (it may be getting the key right now).
      await this.running.get(groupId)?.catch(() => null);
      const me = (await requireIdentity(ctx.db)).identity.fingerprint;
      const known = await groupRowOf(ctx.db, groupId);
      const awaited = known && !known.removed && !known.alarm && !holdsCurrentKey(known) && isMemberDevice(known.state, me);
      // Checked on this device's copy, before any sync or anything shown: a stranger's
      // offer makes the popup say nothing ("connecting to Ana" only for Ana's device).
      if (!awaited || !keyHolderCandidates(known.state, me).includes(from)) {
        channel.close();
        return null;
      }
      return await this.acceptOffer(await ctx.connections.get(), groupId, channel, from);
    } catch (error) {
      channel.close();
      console.warn('conclave: answering a key offer failed', (error as Error).name);
      return null;
    }
  }

  private async acceptOffer(connection: Connection, groupId: GroupId, channel: MessageChannel, from: Fingerprint): Promise<KeyWaitView | null> {
    const { ctx } = this;
    const { client, identity } = connection;
    // Up to date first, as a round is: the holder's head is compared with ours.
    const state = await syncGroup(ctx, connection, groupId, { fetchKey: false });
    await ctx.trust.refresh();
    const secrets = await scannedSecrets(ctx, groupId);
    const before = await keyWaitOf(ctx, groupId);
    const holders = before?.holders ?? keyHolderCandidates(state, identity.fingerprint).map((fingerprint) => ({ fingerprint, name: '', online: false }));
    const row = (wait: KeyWaitState): KeyWaitRow => ({ groupId, state: storable(wait), holders: holders.map((h) => ({ ...h, name: '', online: h.online || h.fingerprint === from })), updatedAt: ctx.now() });
    const connecting = row({ phase: 'connecting', peer: from });
    await keepKeyWait(ctx, connecting);
    ctx.changed(groupId);
    // Not received: the wait goes back to what it was — unless a round wrote a newer one meanwhile.
    const restore = async () => {
      if (await restoreKeyWait(ctx, connecting, before)) ctx.changed(groupId);
    };
    const result = await receiveKeyOnChannel(identity, state, channel, from, {
      qrSecretFor: (peer) => secrets.get(personFor(state, peer)),
      notePeerHead: (evidence) => client.notePeerHead(groupId, evidence),
      ...(ctx.handshakeTimeoutMs !== undefined ? { timeoutMs: ctx.handshakeTimeoutMs } : {}),
    });
    if (result.kind === 'received') {
      try {
        await client.acceptHandedKey(groupId, result.generation, result.seed);
      } catch (error) {
        await restore();
        console.warn('conclave: a key offered live did not match the group', (error as Error).name);
        return null;
      }
      const received = row({ phase: 'received', via: 'peer', from, generation: result.generation });
      await keepKeyWait(ctx, received);
      ctx.changed(groupId);
      for (const peer of secrets.keys()) await deleteDraft(ctx, scannedKey(groupId, peer));
      await this.afterKeyArrived(connection, groupId);
      return { state: received.state, holders: [], updatedAt: received.updatedAt };
    }
    if (result.kind === 'fork') {
      // Signed by the holder: kept in the group's record (notePeerHead) and shown as the
      // group's peer alarm, as a round's fork is — never older than anything a round wrote.
      await keepKeyWait(ctx, row({ phase: 'fork', peer: from }));
      ctx.changed(groupId);
      return null;
    }
    // Refused or dropped: the wait stands as it was (the next round tries again).
    await restore();
    return null;
  }

  /**
   * Dials the online members whose signed heads contradicted ours (fork evidence), so a
   * member whose device now agrees clears it: the handshake's signed welcome is all that
   * is needed (a key it may hand over is not used). Best effort; never throws.
   */
  async recheckPeers(connection: Connection, groupId: GroupId): Promise<void> {
    const { ctx } = this;
    const row = await groupRowOf(ctx.db, groupId);
    const peers = [...new Set((row?.forkEvidence ?? []).map((f) => f.peer))];
    if (!row || row.removed || peers.length === 0) return;
    try {
      for (const peer of peers) await this.exchangeHeads(connection, groupId, peer);
    } catch (error) {
      console.warn('conclave: checking heads with members failed', (error as Error).name);
    }
    if ((await groupRowOf(ctx.db, groupId))?.forkEvidence?.length !== row.forkEvidence?.length) ctx.changed(groupId);
  }

  /**
   * One handshake with `peer` (a device, or a person: then the first of their devices
   * online), for its signed head (kept with notePeerHead) — and, with the secret of a QR
   * code scanned from them, so they mark this device's person verified too. A key it may
   * hand over is not used (this device keeps its own). Throws only when the transport
   * cannot start.
   */
  async exchangeHeads(connection: Connection, groupId: GroupId, who: Fingerprint, qrSecret?: string): Promise<void> {
    const { ctx } = this;
    const row = await groupRowOf(ctx.db, groupId);
    if (!row) return;
    await ctx.transport.start();
    const devices = row.state.devices.has(who) ? [who] : devicesOf(row.state, who).map((d) => d.fingerprint).filter((d) => d !== connection.identity.fingerprint);
    const [peer] = devices.length > 0 ? await ctx.transport.online(devices) : [];
    if (!peer) return;
    const seen: Array<Promise<unknown>> = [];
    const machine = new JoinerHandshake(connection.identity, row.state, {
      expectedPeer: peer,
      ...(qrSecret ? { qrSecret } : {}),
      onPeerHead: (evidence) => seen.push(connection.client.notePeerHead(groupId, evidence).catch(() => undefined)),
    });
    await runHandshake(ctx.transport.connect(peer), machine, ctx.handshakeTimeoutMs !== undefined ? { timeoutMs: ctx.handshakeTimeoutMs } : {});
    await Promise.all(seen);
  }

  /** The key is here: read the group's names and notes, publish this device's profile. */
  async afterKeyArrived(connection: Connection, groupId: GroupId): Promise<void> {
    const { ctx } = this;
    await forgetKeyWait(ctx, groupId);
    try {
      // One sync, inside the listing of what changed.
      await refreshNotes(ctx, connection, groupId);
      await ensureProfile(ctx, connection, groupId);
    } catch (error) {
      // The key is kept either way; names and the profile follow on the next tick.
      console.warn('conclave: reading the group after the key arrived failed', (error as Error).name);
    }
    ctx.changed(groupId);
  }
}
