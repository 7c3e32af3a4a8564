/**
 * The periodic work (every minute, and on start): for each group, sync (a forked log
 * raises its alarm; an admin device rotates a key the group owes), resume the key wait of a group without the key, bring the notes
 * cache up to date (only what changed since the last listing) and learn names,
 * publish this device's profile when missing, answer the key mailbox as an admin
 * (only to members verified here, or any member under invite-trust), count unread
 * notes, and set the badge. One group's failure does not stop the others. Live events
 * (live-sync.ts) run the same per-group sync, through the same queue (`GroupSyncs`).
 */
import { isAdmin } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { loadIdentity } from '../db/identity.ts';
import { groupIdsOf, groupRowOf } from '../db/key-store.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey, syncGroup, viaClient } from './group-state.ts';
import { handedOver } from './groups.ts';
import { isMemberDevice } from './people.ts';
import { BackgroundError } from './errors.ts';
import type { KeyWaits } from './key-wait.ts';
import { ensureGroupName, ensureProfile } from './names.ts';
import { refreshNotes } from './note-cache.ts';
import { updateBadge } from './summaries.ts';

/**
 * Brings one group up to date. Holding the key, one SDK call (`refresh`) does it all on
 * one sync: the key upkeep, the notes cache, and an admin's mailbox handover. Without
 * the key, a sync first finds out whether a key round is worth it (a second sync
 * follows when the key arrives).
 * @throws whatever stopped it (the caller decides whether to report it).
 */
export async function tickGroup(ctx: Ctx, waits: KeyWaits, connection: Connection, groupId: GroupId): Promise<void> {
  const before = await groupRowOf(ctx.db, groupId);
  if (!before || before.removed || before.alarm) return;
  const me = connection.identity.fingerprint;
  if (!holdsCurrentKey(before)) {
    const state = await syncGroup(ctx, connection, groupId);
    if (!isMemberDevice(state, me)) return;
    await waits.recheckPeers(connection, groupId);
    if (!holdsCurrentKey((await groupRowOf(ctx.db, groupId))!)) {
      await waits.round(connection, groupId);
      if (!holdsCurrentKey((await groupRowOf(ctx.db, groupId))!)) return;
    }
  } else {
    // Members whose signed heads contradicted ours: ask them again (the evidence clears when they agree).
    await waits.recheckPeers(connection, groupId);
  }
  const row = (await groupRowOf(ctx.db, groupId))!;
  let refresh;
  try {
    refresh = await refreshNotes(ctx, connection, groupId, { handOver: true });
  } catch (error) {
    // Removed from the group: marked so by the refresh, nothing more to do for it.
    if (error instanceof BackgroundError && error.code === 'removed') return;
    throw error;
  }
  let changed = refresh.namesChanged || refresh.written > 0;
  // New notes are in the cache now: the pages hear it before this device publishes its
  // own profile or the group's name (writes that can take a few round trips).
  if (changed) {
    ctx.changed(groupId);
    changed = false;
  }
  await ensureProfile(ctx, connection, groupId);
  await ensureGroupName(ctx, connection, groupId);
  const previous = ctx.counts.get(groupId);
  let pending: Fingerprint[] = previous?.pending ?? [];
  if (refresh.handover) pending = handedOver(ctx, groupId, refresh.handover, refresh.state).skipped.filter((s) => s.reason !== 'not-a-member').map((s) => s.fingerprint);
  else if (!isAdmin(refresh.state, me)) pending = [];
  // Listed from where the person last looked: the headers just fetched are the unread ones.
  const unread = refresh.since === row.seenCursor ? refresh.unread : (await viaClient(ctx, connection, groupId, () => connection.client.unreadCount(groupId, row.seenCursor))).unread;
  ctx.counts.set(groupId, { unread, pending });
  if (previous?.unread !== unread || previous.pending.join() !== pending.join()) changed = true;
  if (changed) ctx.changed(groupId);
}

/**
 * One group's sync at a time, whoever asks (the ticker's pass, a live event): while
 * one runs, asking again queues one more run after it (at most one), so a burst of
 * events costs one or two syncs and the last one sees everything the burst announced.
 */
export class GroupSyncs {
  private readonly running = new Map<GroupId, Promise<void>>();
  private readonly queued = new Map<GroupId, Promise<void>>();

  /** @param run one group's sync (`tickAndBadge` in the background); it must not throw. */
  constructor(private readonly run: (groupId: GroupId) => Promise<void>) {}

  /** Syncs the group now, or once more after the run in progress (joining a run already queued). */
  sync(groupId: GroupId): Promise<void> {
    const current = this.running.get(groupId);
    // Between a run's end and the queued run's start, join the queued one (never two at once).
    if (!current) return this.queued.get(groupId) ?? this.start(groupId);
    let next = this.queued.get(groupId);
    if (!next) {
      next = current.then(() => this.start(groupId));
      this.queued.set(groupId, next);
    }
    return next;
  }

  /** Resolves when no sync is running or queued (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.queued.size > 0) await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
  }

  private start(groupId: GroupId): Promise<void> {
    this.queued.delete(groupId);
    const run = this.run(groupId).finally(() => {
      if (this.running.get(groupId) === run) this.running.delete(groupId);
    });
    this.running.set(groupId, run);
    return run;
  }
}

/** A group's sync as the background runs it: `tickGroup` on the current connection, then the badge; a failure is logged by name. */
export function tickAndBadge(ctx: Ctx, waits: KeyWaits): (groupId: GroupId) => Promise<void> {
  return async (groupId) => {
    try {
      await tickGroup(ctx, waits, await ctx.connections.get(), groupId);
    } catch (error) {
      console.warn('conclave: syncing a group failed', (error as Error | undefined)?.name);
    }
    await updateBadge(ctx).catch(() => undefined);
  };
}

/** What the ticker does once the peer transport is up (the background opens the live stream there). */
export type AfterStart = (connection: Connection) => void;

export class Ticker {
  private running: Promise<void> | null = null;

  constructor(
    private readonly ctx: Ctx,
    private readonly syncs: GroupSyncs,
    private readonly afterStart: AfterStart = () => undefined,
  ) {}

  /** One pass over every group; a pass already running is joined, not doubled. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const { ctx } = this;
    const identity = await loadIdentity(ctx.db);
    if (!identity) {
      ctx.badge('');
      return;
    }
    await ctx.trust.refresh();
    let connection: Connection;
    try {
      connection = await ctx.connections.get();
    } catch (error) {
      // Offline: nothing to do until the next tick; what the pages show stays as it was.
      console.warn('conclave: sync skipped, the storage API could not be reached', (error as Error | undefined)?.name);
      await updateBadge(ctx);
      return;
    }
    // Online for members who want the key from this device (a failure only delays that).
    const transportUp = ctx.transport.start().catch((error: unknown) => console.warn('conclave: the peer transport could not start', (error as Error | undefined)?.name));
    // Registered for peers first, then the live stream: members who hear this device
    // come online can dial it.
    const streaming = transportUp.then(() => this.afterStart(connection));
    // Groups whose key this device holds need no peer: they are synced while the
    // transport starts (an admin's browser answers the mailbox at once). Groups without
    // the key wait for it: their key round may dial a holder.
    const groupIds = await groupIdsOf(ctx.db);
    const rows = await Promise.all(groupIds.map((groupId) => groupRowOf(ctx.db, groupId)));
    const keyed = groupIds.filter((_, i) => rows[i] !== undefined && holdsCurrentKey(rows[i]!));
    for (const groupId of keyed) await this.syncs.sync(groupId);
    await streaming;
    for (const groupId of groupIds.filter((id) => !keyed.includes(id))) await this.syncs.sync(groupId);
    await updateBadge(ctx);
  }
}
