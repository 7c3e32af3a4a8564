/**
 * The event feed: how a write made by any API process reaches the live hub
 * (services/live-hub.ts) of every process, this one included. A message names what
 * moved (ids, seqs, cursors: never a key, a ciphertext or a token); the hub turns it
 * into the events of docs/API.md "Live events" for its own subscribers.
 *
 * Two implementations: `LocalFeed` here, for SQLite (one process), and
 * `PgEventFeed` (services/pg-event-feed.ts), through PostgreSQL `LISTEN/NOTIFY`.
 * Writers publish after their write committed, so a hub that reads the store on a
 * message sees the write.
 */
import { z } from 'zod';
import {
  entryHashSchema,
  fingerprintSchema,
  generationSchema,
  groupIdSchema,
  noteIdSchema,
  type EntryHash,
  type Fingerprint,
  type GroupId,
  type KeyBox,
  type LogHead,
  type NoteId,
} from '@conclave/shared/verify';

/** What moved, as one process tells every process. */
export type FeedMessage =
  | { kind: 'log'; groupId: GroupId; seq: number; hash: EntryHash }
  | { kind: 'box'; groupId: GroupId; generation: number; recipients: Fingerprint[] }
  | { kind: 'note'; groupId: GroupId; noteId: NoteId; version: number; cursor: number }
  | { kind: 'request'; groupId: GroupId }
  | { kind: 'online'; groupId: GroupId; device: Fingerprint }
  /** A stored chain unlinked this device: its streams carry no group from now on, on every process. */
  | { kind: 'unlinked'; device: Fingerprint }
  /** A session was signed out: its streams end, on whichever process holds them. */
  | { kind: 'session-end'; tokenHash: string }
  /** A process lost a message (its NOTIFY failed): every stream resyncs. */
  | { kind: 'resync' };

/** Recipients per `box` message: a NOTIFY payload must stay under 8000 bytes. */
export const BOX_RECIPIENTS_PER_MESSAGE = 64;

const feedMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('log'), groupId: groupIdSchema, seq: z.number().int().min(0), hash: entryHashSchema }),
  z.object({ kind: z.literal('box'), groupId: groupIdSchema, generation: generationSchema, recipients: z.array(fingerprintSchema).max(BOX_RECIPIENTS_PER_MESSAGE) }),
  z.object({ kind: z.literal('note'), groupId: groupIdSchema, noteId: noteIdSchema, version: z.number().int().min(1), cursor: z.number().int().min(1) }),
  z.object({ kind: z.literal('request'), groupId: groupIdSchema }),
  z.object({ kind: z.literal('online'), groupId: groupIdSchema, device: fingerprintSchema }),
  z.object({ kind: z.literal('unlinked'), device: fingerprintSchema }),
  z.object({ kind: z.literal('session-end'), tokenHash: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.object({ kind: z.literal('resync') }),
]);

/** A message read off the wire (a NOTIFY payload), or null when it is not one of ours. */
export function parseFeedMessage(text: string): FeedMessage | null {
  try {
    const parsed = feedMessageSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as FeedMessage) : null;
  } catch {
    return null;
  }
}

export interface FeedHandlers {
  /** Every message published by any process, in the order the feed received them. */
  deliver(message: FeedMessage): void;
  /** Messages may have been lost (the feed's connection dropped and came back). */
  resync(): void;
}

export interface EventFeed {
  /** Starts delivering to `handlers`; resolves once the feed listens (or its first attempt failed). */
  start(handlers: FeedHandlers): Promise<void>;
  /**
   * Hands `message` to every process. Never throws: a lost message is a lost hint,
   * which the next `heads` event makes good.
   */
  publish(message: FeedMessage): Promise<void>;
  close(): Promise<void>;
}

/** SQLite, one process: messages go straight to this process's hub. */
export class LocalFeed implements EventFeed {
  private handlers: FeedHandlers | null = null;

  async start(handlers: FeedHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async publish(message: FeedMessage): Promise<void> {
    // After the writer's answer has gone out, in publish order: a write to a group with a
    // thousand open streams answers as fast as one with none.
    setImmediate(() => this.handlers?.deliver(message));
  }

  async close(): Promise<void> {
    this.handlers = null;
  }
}

// --- what the routers publish ---------------------------------------------------------

/**
 * After a log append committed: the new head, then one `box` message per generation
 * (and per 64 recipients) for the member boxes that travelled with it, in that order,
 * so a hub adds a new member's stream before its box arrives.
 */
export async function publishAppend(feed: EventFeed, groupId: GroupId, head: LogHead, boxes: readonly KeyBox[]): Promise<void> {
  await feed.publish({ kind: 'log', groupId, seq: head.seq, hash: head.hash as EntryHash });
  await publishBoxes(feed, groupId, boxes);
}

/** After member boxes were stored: who got a box, per generation. Boxes to invites are nobody's stream. */
export async function publishBoxes(feed: EventFeed, groupId: GroupId, boxes: readonly KeyBox[]): Promise<void> {
  const byGeneration = new Map<number, Set<Fingerprint>>();
  for (const box of boxes) {
    if (box.recipient.kind !== 'member') continue;
    const recipients = byGeneration.get(box.generation) ?? new Set<Fingerprint>();
    recipients.add(box.recipient.id as Fingerprint);
    byGeneration.set(box.generation, recipients);
  }
  for (const [generation, recipients] of byGeneration) {
    const all = [...recipients];
    for (let i = 0; i < all.length; i += BOX_RECIPIENTS_PER_MESSAGE) {
      await feed.publish({ kind: 'box', groupId, generation, recipients: all.slice(i, i + BOX_RECIPIENTS_PER_MESSAGE) });
    }
  }
}
