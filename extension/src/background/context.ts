/**
 * What every part of the background shares: the database (each table read and written
 * only by its owner, db/schema.ts `TABLE_OWNERS`), the peer transport (its `start`
 * registers with the signaling server, idempotent), the clock, the trust snapshot, the
 * storage API connection (one `GroupClient`: the only door to the server), and the two
 * ways out to the pages (a broadcast that something changed, the toolbar badge).
 * Numbers kept in memory here (unread, pending) are recomputed by every tick; nothing
 * else is.
 */
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { ConclaveDb } from '../db/schema.ts';
import type { ChangedEvent } from '../messages/protocol.ts';
import type { PeerTransport } from '../p2p/transport.ts';
import type { Connections } from './connection.ts';
import type { TrustBook } from './trust.ts';

/** What the live event stream needs from the platform (the service worker passes nothing: it has a global WebSocket). */
export interface LiveDeps {
  /** The WebSocket class (Node tests pass `ws`'s). */
  WebSocket?: typeof globalThis.WebSocket;
  /** The reconnect delay for attempt n (tests shorten it). */
  retryDelayMs?: (attempt: number) => number;
}

export interface BackgroundDeps {
  db: ConclaveDb;
  transport: PeerTransport;
  now?: () => number;
  /** Sets the toolbar badge text ('' clears it). */
  badge?: (text: string) => void;
  /** Tells open pages that what they show may have changed. */
  broadcast?: (event: ChangedEvent) => void;
  /** Time one live handshake may take (tests shorten it). */
  handshakeTimeoutMs?: number;
  /** Present: hold the storage API's live event stream (live-sync.ts); absent, only ticks sync. */
  live?: LiveDeps;
}

export interface GroupCounts {
  unread: number;
  /** Members waiting in the mailbox whom this admin could not hand the key to yet. */
  pending: Fingerprint[];
}

export interface Ctx {
  db: ConclaveDb;
  transport: PeerTransport;
  now: () => number;
  trust: TrustBook;
  connections: Connections;
  counts: Map<GroupId, GroupCounts>;
  /** Groups (and names) whose profile note this worker already checked: `${groupId}|${name}`. */
  profilesChecked: Set<string>;
  /** Live hand-overs this worker served: `${groupId}|${device}` → when (holder.ts: an offer a device declines because it has just been served is a hand-over all the same). */
  servedLive: Map<string, number>;
  handshakeTimeoutMs: number | undefined;
  changed(groupId?: GroupId): void;
  badge(text: string): void;
}
