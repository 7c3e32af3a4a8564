/**
 * The live hub of one API process: its open `events.live` streams, indexed by group,
 * by device and by session, and the fan-out of every feed message
 * (services/event-feed.ts) to the streams that may hear it (docs/API.md "Live events"):
 * - `log`: every stream carrying the group; then membership is checked against the
 *   new validated state (by device: a current device of a current member): a stream
 *   whose device no longer is one (removed, left, unlinked) gets `removed`
 *   (and nothing more of that group), a stream of a device that became a member gets
 *   the group added (and the `log` event);
 * - `box`: only the recipient device's streams, if they carry the group;
 * - `note`: every stream carrying the group;
 * - `request`: the streams of the group's current admins;
 * - `online`: the group's streams of other devices waiting for the key (a mailbox
 *   request), when a device's stream opens
 *   for the group (at subscribe, or when the device becomes a member while its stream is open);
 * - a session's end (logout, on any process): that session's streams end;
 * - `unlinked` (a stored chain unlinked a device): that device's streams drop every
 *   group at once and send a fresh `heads`, which lists none;
 * - `resync` (a process lost a message): every stream sends a fresh `heads`.
 *
 * Every `heads` (at subscribe and at each resync) first checks the session, so a
 * stream whose sign-out hint was lost ends at its next heads at the latest; a device
 * its person has unlinked (the stored chains say so) gets no group in it.
 *
 * Messages of one group are applied one at a time, in the order the feed delivered
 * them (a new member's stream gets the group before its key box arrives); different
 * groups do not wait for each other.
 */
import { isAdmin, type Fingerprint, type GroupHeads, type GroupId, type LiveEvent } from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { isUnlinked } from './device-standing.ts';
import type { EventFeed, FeedMessage } from './event-feed.ts';
import type { GroupStates } from './group-states.ts';
import { LiveSubscriber, RESYNC } from './live-subscriber.ts';

/** Events a stream may hold unsent before it falls back to a fresh `heads` event. */
export const LIVE_QUEUE_LIMIT = 256;
/** Resyncs closer together than this are coalesced (the trailing one still runs). */
const RESYNC_GAP_MS = 1000;
/** The longest timer Node keeps (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The stream ended because its session expired or was signed out. */
export class SessionEnded extends Error {
  constructor() {
    super('session ended');
  }
}

export interface LiveHubOptions {
  store: Store;
  groups: GroupStates;
  feed: EventFeed;
  now: () => number;
  /** Open streams per session in this process. */
  streamsPerSession: number;
  queueLimit?: number;
  /** Told (by name only) when applying a message failed; every stream resyncs. */
  onTrouble?: (what: string, error: unknown) => void;
  /** The longest expiry timer armed at once (tests); longer waits re-arm. */
  maxTimerMs?: number;
  /** Resyncs closer together than this are coalesced into one at the end of the gap. */
  resyncGapMs?: number;
}

export interface OpenStream {
  device: Fingerprint;
  tokenHash: string;
  /** When the session expires: the stream ends then. */
  expiresAt: number;
  signal: AbortSignal;
  /** Told when the session ends (expiry, sign-out): a stream waiting on its socket stops waiting. */
  onSessionEnd?: () => void;
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

export class LiveHub {
  private readonly byGroup = new Map<GroupId, Set<LiveSubscriber>>();
  private readonly byDevice = new Map<Fingerprint, Set<LiveSubscriber>>();
  private readonly bySession = new Map<string, Set<LiveSubscriber>>();
  /** The tail of each group's chain of messages being applied. */
  private readonly chains = new Map<GroupId, Promise<void>>();
  private readonly queueLimit: number;
  private resyncTimer: NodeJS.Timeout | null = null;
  private resyncOwed = false;

  constructor(private readonly options: LiveHubOptions) {
    this.queueLimit = options.queueLimit ?? LIVE_QUEUE_LIMIT;
  }

  /** Starts hearing the feed. */
  async start(): Promise<void> {
    await this.options.feed.start({ deliver: (m) => this.deliver(m), resync: () => this.resyncAll() });
  }

  /** Open streams in this process. */
  get size(): number {
    let n = 0;
    for (const set of this.bySession.values()) n += set.size;
    return n;
  }

  /** Every message of every group applied so far has been fanned out (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * One stream's events: `heads` first, then what the feed brings, until `signal`
   * aborts (the client stopped or the socket closed). Nothing is registered before the
   * first `next()`, and everything is released when the iteration ends, however.
   * @throws {TRPCError} TOO_MANY_REQUESTS over the per-session limit (before any event).
   * @throws {SessionEnded} when the session expires or is signed out.
   */
  async *open(stream: OpenStream): AsyncGenerator<LiveEvent> {
    const open = this.bySession.get(stream.tokenHash)?.size ?? 0;
    if (open >= this.options.streamsPerSession) {
      throw apiError('TOO_MANY_REQUESTS', `this session already has ${open} open live streams, the most this server allows: close one first (one stream carries every group)`);
    }
    const subscriber = new LiveSubscriber(stream.device, stream.tokenHash, this.queueLimit, (reason) => {
      if (reason === 'session') stream.onSessionEnd?.();
    });
    // Indexed before the heads are read, so no write after the heads is missed.
    addTo(this.byDevice, subscriber.device, subscriber);
    addTo(this.bySession, subscriber.tokenHash, subscriber);
    // Node keeps no timer longer than ~24.8 days: a longer session re-arms until its expiry.
    const maxTimerMs = this.options.maxTimerMs ?? MAX_TIMER_MS;
    let expiry: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = stream.expiresAt - this.options.now();
      if (left <= 0) return subscriber.end('session');
      expiry = setTimeout(arm, Math.min(left, maxTimerMs));
      expiry.unref();
    };
    arm();
    try {
      yield await this.heads(subscriber);
      // Told to the group's other streams all at once, not one write after another.
      await Promise.all([...subscriber.groups].map((groupId) => this.options.feed.publish({ kind: 'online', groupId, device: subscriber.device })));
      for (;;) {
        const item = await subscriber.next(stream.signal);
        if (item === null) break;
        yield item === RESYNC ? await this.heads(subscriber) : item;
      }
      if (subscriber.ended === 'session') throw new SessionEnded();
    } finally {
      clearTimeout(expiry);
      subscriber.end('closed');
      this.forget(subscriber);
    }
  }

  /**
   * A fresh `heads` event: every group the device is a member of now, with its log
   * head and note cursor. The stream's groups follow: a group it carried and the
   * device has left since is dropped, and a `removed` event for it follows the heads.
   * @throws {SessionEnded} when the session is gone (a sign-out whose hint was lost).
   */
  private async heads(subscriber: LiveSubscriber): Promise<LiveEvent> {
    const session = await this.options.store.getSession(subscriber.tokenHash, this.options.now());
    if (!session) {
      subscriber.end('session');
      throw new SessionEnded();
    }
    // The groups the client was told of (by an earlier heads or event).
    const told = new Set(subscriber.groups);
    // Read, index, read again: a removal fanned out before the stream carried the group
    // reached nobody, but it committed before the second read, which no longer lists
    // the group; one fanned out after the indexing reaches the stream as usual.
    for (const row of await this.memberships(subscriber)) this.addGroup(subscriber, row.groupId);
    const rows = await this.memberships(subscriber);
    const current = new Set(rows.map((row) => row.groupId));
    for (const groupId of [...subscriber.groups]) {
      if (!current.has(groupId)) {
        this.dropGroup(subscriber, groupId);
        if (told.has(groupId)) subscriber.push({ type: 'removed', groupId });
      }
    }
    for (const groupId of current) this.addGroup(subscriber, groupId);
    const cursors = await this.options.store.noteCursors(rows.map((row) => row.groupId));
    const groups: GroupHeads[] = rows.map((row) => ({ groupId: row.groupId, seq: row.head.seq, hash: row.head.hash, noteCursor: cursors.get(row.groupId) ?? 0 }));
    return { type: 'heads', groups };
  }

  private async memberships(subscriber: LiveSubscriber) {
    // A device its person unlinked carries no group, even while a group's log still lists it.
    if (await isUnlinked(this.options.store, subscriber.device)) return [];
    return (await this.options.store.groupsOf(subscriber.device)).filter((row) => row.status === 'member');
  }

  /** Every stream drops what waits and sends a fresh `heads` event (the feed may have lost messages). */
  resyncAll(): void {
    // A burst of resyncs (a feed reconnecting again and again) costs one heads per gap, not one each.
    if (this.resyncTimer) {
      this.resyncOwed = true;
      return;
    }
    for (const set of this.bySession.values()) for (const subscriber of set) subscriber.resync();
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      if (!this.resyncOwed) return;
      this.resyncOwed = false;
      this.resyncAll();
    }, this.options.resyncGapMs ?? RESYNC_GAP_MS);
    this.resyncTimer.unref();
  }

  private addGroup(subscriber: LiveSubscriber, groupId: GroupId): void {
    subscriber.groups.add(groupId);
    addTo(this.byGroup, groupId, subscriber);
  }

  private dropGroup(subscriber: LiveSubscriber, groupId: GroupId): void {
    subscriber.groups.delete(groupId);
    removeFrom(this.byGroup, groupId, subscriber);
  }

  private forget(subscriber: LiveSubscriber): void {
    for (const groupId of subscriber.groups) removeFrom(this.byGroup, groupId, subscriber);
    subscriber.groups.clear();
    removeFrom(this.byDevice, subscriber.device, subscriber);
    removeFrom(this.bySession, subscriber.tokenHash, subscriber);
  }

  // --- fan-out -------------------------------------------------------------------------

  /** Takes a feed message: a session's end at once, a group's messages in that group's order. */
  deliver(message: FeedMessage): void {
    if (message.kind === 'session-end') {
      for (const subscriber of [...(this.bySession.get(message.tokenHash) ?? [])]) subscriber.end('session');
      return;
    }
    if (message.kind === 'resync') return this.resyncAll();
    if (message.kind === 'unlinked') return this.cutOff(message.device);
    const { groupId } = message;
    const tail = (this.chains.get(groupId) ?? Promise.resolve()).then(() =>
      this.apply(message).catch((error: unknown) => {
        this.options.onTrouble?.('fanning out a live event failed', error);
        // Any stream may have missed it, not only those carrying the group (a `log` may add
        // a member whose stream does not carry it yet): every stream resyncs.
        this.resyncAll();
      }),
    );
    this.chains.set(groupId, tail);
    void tail.then(() => {
      if (this.chains.get(groupId) === tail) this.chains.delete(groupId);
    });
  }

  /** A device its person unlinked: its streams hear nothing more of any group, and a fresh heads lists none. */
  private cutOff(device: Fingerprint): void {
    for (const subscriber of this.byDevice.get(device) ?? []) {
      for (const groupId of [...subscriber.groups]) this.dropGroup(subscriber, groupId);
      subscriber.resync();
    }
  }

  private async apply(message: Exclude<FeedMessage, { kind: 'session-end' | 'resync' | 'unlinked' }>): Promise<void> {
    const streams = () => [...(this.byGroup.get(message.groupId) ?? [])];
    switch (message.kind) {
      case 'log': {
        // No stream here at all: nothing to tell, and no need to validate the log in this process.
        if (this.byDevice.size === 0) return;
        const state = await this.options.groups.stateOf(message.groupId);
        if (!state) return;
        const event: LiveEvent = { type: 'log', groupId: message.groupId, seq: message.seq, hash: message.hash };
        // The log may still list a device its person has unlinked (until a `devices` entry catches it up): the stored chains decide.
        // Walk whichever is smaller, the group's devices or the devices with streams.
        const listed = state.devices.size <= this.byDevice.size ? [...state.devices.keys()].filter((d) => this.byDevice.has(d)) : [...this.byDevice.keys()].filter((d) => state.devices.has(d));
        const unlinked = listed.length > 0 ? await this.options.store.unlinkedDevices(listed) : new Set<Fingerprint>();
        const member = (device: Fingerprint) => state.devices.has(device) && !unlinked.has(device);
        for (const subscriber of streams()) {
          if (member(subscriber.device)) {
            subscriber.push(event);
          } else {
            this.dropGroup(subscriber, message.groupId);
            subscriber.push({ type: 'removed', groupId: message.groupId });
          }
        }
        // Devices that became members' devices (`listed`: the group's devices that have streams here).
        for (const device of listed) {
          if (!member(device)) continue;
          let joined = false;
          for (const subscriber of this.byDevice.get(device) ?? []) {
            if (subscriber.groups.has(message.groupId) || subscriber.ended) continue;
            this.addGroup(subscriber, message.groupId);
            subscriber.push(event);
            joined = true;
          }
          // Its stream is open: the group's other devices may dial it now.
          if (joined) void this.options.feed.publish({ kind: 'online', groupId: message.groupId, device });
        }
        return;
      }
      case 'box': {
        const event: LiveEvent = { type: 'box', groupId: message.groupId, generation: message.generation };
        for (const device of message.recipients) {
          for (const subscriber of this.byDevice.get(device) ?? []) if (subscriber.groups.has(message.groupId)) subscriber.push(event);
        }
        return;
      }
      case 'note': {
        const event: LiveEvent = { type: 'note', groupId: message.groupId, noteId: message.noteId, version: message.version, cursor: message.cursor };
        for (const subscriber of streams()) subscriber.push(event);
        return;
      }
      case 'request': {
        const subscribers = streams();
        if (subscribers.length === 0) return;
        const state = await this.options.groups.stateOf(message.groupId);
        if (!state) return;
        for (const subscriber of subscribers) if (isAdmin(state, subscriber.device)) subscriber.push({ type: 'request', groupId: message.groupId });
        return;
      }
      case 'online': {
        const others = streams().filter((subscriber) => subscriber.device !== message.device);
        if (others.length === 0) return;
        // Only devices waiting for the key (a mailbox request) dial whoever comes online:
        // telling every member would cost n·(n−1)/2 events when a whole group comes online.
        const waiting = new Set((await this.options.store.keyRequests(message.groupId)).map((r) => r.fingerprint));
        const event: LiveEvent = { type: 'online', groupId: message.groupId, device: message.device };
        for (const subscriber of others) if (waiting.has(subscriber.device)) subscriber.push(event);
        return;
      }
    }
  }
}
