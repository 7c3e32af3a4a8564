/**
 * The live event stream (docs/API.md "Live events"), held by the background: opened
 * by the ticker's pass once this device has an identity, a connection and its peer
 * registration (so members who hear it come `online` can dial it at once), opened again
 * on a new connection (settings saved, identity created), closed by `close`. The SDK
 * signs it in, reconnects with backoff and parses every event; here each event only
 * says which group to sync — the data still comes from the normal, verified calls:
 *
 * - `heads` (first on every connection, and after events may have been dropped): every
 *   group whose log head or notes cursor moved past this device's, or that this device
 *   cannot read yet, or where it is an admin (key requests are not in the heads), or
 *   that the server no longer lists for it (a removal);
 * - `log`, `box`, `note`, `request`, `removed`: that group, unless this device already
 *   holds what the event announces (its own write, a key it has);
 * - `online`: a member's device came online (the server tells only devices waiting for
 *   the key) — a group waiting for its key starts a key round at once (it dials that
 *   device), as does one with signed evidence naming it.
 *
 * Syncs go through `GroupSyncs` (one running per group, at most one queued), so a
 * burst of events costs one or two syncs. The one-minute alarm stays as the backstop:
 * if the service worker is stopped, its next start opens the stream again, and the
 * `heads` event makes it sync whatever moved meanwhile.
 */
import { isAdmin } from '@conclave/shared/crypto';
import type { LiveStream } from '@conclave/shared/client';
import type { GroupHeads, GroupId, LiveEvent } from '@conclave/shared/protocol';
import { allGroupRows, groupRowOf } from '../db/key-store.ts';
import type { GroupRow } from '../db/schema.ts';
import type { Connection } from './connection.ts';
import type { Ctx, LiveDeps } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { cachedNote } from './note-rows.ts';
import type { GroupSyncs } from './tick.ts';

/** The first wait after an event-driven sync that did not bring the key, and the longest. */
const KEYLESS_FIRST_DELAY_MS = 5_000;
const KEYLESS_MAX_DELAY_MS = 60_000;

export class LiveSync {
  private stream: LiveStream | null = null;
  private on: Connection | null = null;
  private readonly handling = new Set<Promise<unknown>>();
  /** Groups the server listed for this device that it does not keep, already tried in this worker's life. */
  private readonly adoptTried = new Set<GroupId>();
  /** Groups whose last event-driven sync ended without the key: when the next may run. */
  private readonly keyless = new Map<GroupId, { until: number; delayMs: number; timer: ReturnType<typeof setTimeout> | null; cause: 'box' | 'other' }>();

  constructor(
    private readonly ctx: Ctx,
    private readonly syncs: GroupSyncs,
    private readonly deps: LiveDeps,
  ) {}

  /** Whether a stream is held (open, or reconnecting by itself in the SDK). */
  get isOpen(): boolean {
    return this.stream !== null;
  }

  /** Opens the stream on `connection`, unless it is already open on it (an older one is closed). */
  ensure(connection: Connection): void {
    if (this.stream && this.on === connection) return;
    void this.close();
    this.on = connection;
    try {
      this.stream = connection.client.live({
        onEvent: (event) => this.track(this.onEvent(connection, event)),
        ...(this.deps.WebSocket ? { WebSocket: this.deps.WebSocket } : {}),
        ...(this.deps.retryDelayMs ? { retryDelayMs: this.deps.retryDelayMs } : {}),
      });
    } catch (error) {
      // No WebSocket here: the alarm keeps syncing.
      this.on = null;
      console.warn('conclave: the live stream could not open', (error as Error | undefined)?.name);
    }
  }

  /**
   * `ensure`, but only while `connection` is still the current one: a tick that started
   * before the settings changed must not move the stream back to the old server.
   */
  async ensureIfCurrent(connection: Connection): Promise<void> {
    const current = await this.ctx.connections.get().catch(() => null);
    if (current === connection) this.ensure(connection);
  }

  /** Closes the stream and opens it on the current connection (after the settings or the identity changed). */
  async reopen(): Promise<void> {
    await this.close();
    try {
      this.ensure(await this.ctx.connections.get());
    } catch {
      // Offline or no identity yet: the next tick opens it.
    }
  }

  async close(): Promise<void> {
    for (const entry of this.keyless.values()) if (entry.timer) clearTimeout(entry.timer);
    this.keyless.clear();
    const stream = this.stream;
    this.stream = null;
    this.on = null;
    await stream?.close();
  }

  /** Resolves when every event received so far was handled and its syncs are done (tests). */
  async idle(): Promise<void> {
    while (this.handling.size > 0) await Promise.allSettled([...this.handling]);
    await this.syncs.idle();
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => console.warn('conclave: a live event could not be handled', (error as Error | undefined)?.name));
    this.handling.add(tracked);
    void tracked.finally(() => this.handling.delete(tracked));
  }

  private async onEvent(connection: Connection, event: LiveEvent): Promise<void> {
    if (this.on !== connection) return;
    if (event.type === 'heads') {
      const heads = new Map(event.groups.map((g) => [g.groupId, g]));
      const rows = await allGroupRows(this.ctx.db);
      for (const row of rows) {
        if (this.moved(row, heads.get(row.groupId), connection)) void this.syncs.sync(row.groupId);
      }
      // A group this device is in but does not keep: one its person joined or made on
      // another of their devices after this one was linked. Kept from its whole log.
      const kept = new Set(rows.map((r) => r.groupId));
      for (const groupId of heads.keys()) if (!kept.has(groupId)) this.track(this.adopt(connection, groupId));
      return;
    }
    const row = await groupRowOf(this.ctx.db, event.groupId);
    if (!row || row.alarm || row.removed) return;
    if (!(await this.worthSyncing(row, event))) return;
    if (holdsCurrentKey(row)) void this.syncs.sync(event.groupId);
    else this.syncWithoutKey(event.groupId, event.type === 'box' ? 'box' : 'other');
  }

  /**
   * Starts keeping a group the server lists for this device (`openGroup` validates its
   * whole log and refuses one that does not list this device as a current device of a
   * member), then syncs it like any other. Tried once per group per worker life.
   */
  private async adopt(connection: Connection, groupId: GroupId): Promise<void> {
    if (this.adoptTried.has(groupId)) return;
    this.adoptTried.add(groupId);
    try {
      await connection.client.openGroup(groupId);
    } catch {
      // Not a member (left, removed, or a stale listing): nothing to keep.
      return;
    }
    this.ctx.changed(groupId);
    void this.syncs.sync(groupId);
  }

  /**
   * A group without its key syncs at once on an event, unless its last event-driven
   * sync ended without the key: then it waits (5 s, doubling to a minute). Otherwise a
   * box this device cannot open and the key request each failed round posts would
   * bounce between it and the admins at round-trip speed. A box after a wait that no
   * box caused (the round after a holder came online found nobody willing) is fetched
   * at once: it is most likely the key an admin sealed right after verifying this device.
   */
  private syncWithoutKey(groupId: GroupId, cause: 'box' | 'other'): void {
    const backoff = this.keyless.get(groupId);
    const now = this.ctx.now();
    if (backoff && cause === 'box' && backoff.cause === 'other') {
      if (backoff.timer) clearTimeout(backoff.timer);
      backoff.timer = null;
      backoff.until = now;
    }
    if (backoff?.timer) return;
    const run = () => {
      const entry = this.keyless.get(groupId);
      if (entry) entry.timer = null;
      this.track(
        this.syncs.sync(groupId).then(async () => {
          const after = await groupRowOf(this.ctx.db, groupId);
          if (!after || holdsCurrentKey(after)) {
            this.keyless.delete(groupId);
            return;
          }
          const delayMs = Math.min(KEYLESS_MAX_DELAY_MS, (this.keyless.get(groupId)?.delayMs ?? KEYLESS_FIRST_DELAY_MS / 2) * 2);
          this.keyless.set(groupId, { until: this.ctx.now() + delayMs, delayMs, timer: null, cause });
        }),
      );
    };
    if (!backoff || now >= backoff.until) return run();
    backoff.timer = setTimeout(run, backoff.until - now);
  }

  /** Whether a group needs a sync after a (re)connection, by the heads the server sent. */
  private moved(row: GroupRow, heads: GroupHeads | undefined, connection: Connection): boolean {
    if (row.removed || row.alarm) return false;
    if (!heads) return true;
    if (heads.seq !== row.state.seq || heads.hash !== row.state.head) return true;
    if (heads.noteCursor > row.notesCursor) return true;
    return !holdsCurrentKey(row) || isAdmin(row.state, connection.identity.fingerprint);
  }

  /** Whether an event announces something this device does not hold yet. */
  private async worthSyncing(row: GroupRow, event: Exclude<LiveEvent, { type: 'heads' }>): Promise<boolean> {
    const readable = holdsCurrentKey(row);
    switch (event.type) {
      case 'log':
        return row.state.hashes[event.seq] !== event.hash;
      case 'box':
        return !row.seeds.has(event.generation);
      case 'note': {
        // Without the key a note cannot be read: the key's own events bring the group up to date.
        if (!readable) return false;
        const cached = await cachedNote(this.ctx, row.groupId, event.noteId);
        return cached === undefined || cached.version < event.version;
      }
      case 'request':
        return readable;
      case 'removed':
        return true;
      case 'online':
        return !readable || (row.forkEvidence ?? []).some((f) => f.peer === event.device);
    }
  }
}
