/**
 * The periodic work (every minute, and on start): for each group, sync (a forked log
 * raises its alarm; an admin device rotates a key the group owes), resume the key wait of a group without the key, bring the notes
 * cache up to date (only what changed since the last listing) and learn names,
 * publish this device's profile when missing, answer the key mailbox as an admin
 * (only to members verified here, or any member under invite-trust), count unread
 * notes, and set the badge. One group's failure does not stop the others.
 */
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { loadIdentity } from '../db/identity.ts';
import { groupIdsOf, groupRowOf } from '../db/key-store.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey, syncGroup, viaClient } from './group-state.ts';
import { handOverNow } from './groups.ts';
import type { KeyWaits } from './key-wait.ts';
import { ensureGroupName, ensureProfile } from './names.ts';
import { refreshNotes } from './note-cache.ts';
import { updateBadge } from './summaries.ts';

/**
 * Brings one group up to date.
 * @throws whatever stopped it (the caller decides whether to report it).
 */
export async function tickGroup(ctx: Ctx, waits: KeyWaits, connection: Connection, groupId: GroupId): Promise<void> {
  const before = await groupRowOf(ctx.db, groupId);
  if (!before || before.removed || before.alarm) return;
  const me = connection.identity.fingerprint;
  const state = await syncGroup(ctx, connection, groupId);
  if (!state.members.has(me)) return;
  // Members whose signed heads contradicted ours: ask them again (the evidence clears when they agree).
  await waits.recheckPeers(connection, groupId);
  if (!holdsCurrentKey((await groupRowOf(ctx.db, groupId))!)) {
    await waits.round(connection, groupId);
    if (!holdsCurrentKey((await groupRowOf(ctx.db, groupId))!)) return;
  }
  const row = (await groupRowOf(ctx.db, groupId))!;
  const refresh = await refreshNotes(ctx, connection, groupId);
  let changed = refresh.namesChanged || refresh.written > 0;
  await ensureProfile(ctx, connection, groupId);
  await ensureGroupName(ctx, connection, groupId);
  const previous = ctx.counts.get(groupId);
  let pending: Fingerprint[] = [];
  if (state.members.get(me)?.role === 'admin') {
    const handed = await handOverNow(ctx, connection, groupId);
    pending = handed.skipped.filter((s) => s.reason !== 'not-a-member').map((s) => s.fingerprint);
  }
  // Listed from where the person last looked: the headers just fetched are the unread ones.
  const unread = refresh.since === row.seenCursor ? refresh.unread : (await viaClient(ctx, connection, groupId, () => connection.client.unreadCount(groupId, row.seenCursor))).unread;
  ctx.counts.set(groupId, { unread, pending });
  if (previous?.unread !== unread || previous.pending.join() !== pending.join()) changed = true;
  if (changed) ctx.changed(groupId);
}

export class Ticker {
  private running: Promise<void> | null = null;

  constructor(
    private readonly ctx: Ctx,
    private readonly waits: KeyWaits,
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
      console.warn('conclave: sync skipped, the storage API could not be reached', (error as Error).name);
      await updateBadge(ctx);
      return;
    }
    // Online for members who want the key from this device (a failure only delays that).
    await ctx.transport.start().catch((error: unknown) => console.warn('conclave: the peer transport could not start', (error as Error).name));
    const groupIds = await groupIdsOf(ctx.db);
    for (const groupId of groupIds) {
      try {
        await tickGroup(ctx, this.waits, connection, groupId);
      } catch (error) {
        console.warn('conclave: syncing a group failed', (error as Error).name);
      }
    }
    await updateBadge(ctx);
  }
}
