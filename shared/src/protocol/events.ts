/**
 * Live events (docs/API.md "Live events"): the storage API pushes a hint to a
 * signed-in device whenever something it may read has moved. An event carries no
 * secret and nothing the device could not already read with a normal call; the device
 * still fetches and verifies the data with the normal calls. A missed event loses
 * nothing: every (re)subscription starts with the current heads of the device's groups.
 *
 * The stream is the subscription `events.live` over a WebSocket at `/trpc` (tRPC v11
 * JSON-RPC messages), authenticated by `connectionParams: { token }`.
 */
import { z } from 'zod';
import { entryHashSchema, fingerprintSchema, generationSchema, groupIdSchema, noteIdSchema } from './ids.ts';

/** Where a group stands on the server: its log head and its notes' list cursor. */
export const groupHeadsSchema = z.object({
  groupId: groupIdSchema,
  seq: z.number().int().min(0),
  hash: entryHashSchema,
  /** The `cursor` a `notes.list` from 0 would end at (0: no note yet). */
  noteCursor: z.number().int().min(0),
});
export type GroupHeads = z.infer<typeof groupHeadsSchema>;

export const liveEventSchema = z.discriminatedUnion('type', [
  /**
   * First on every subscription, and again whenever the server may have dropped events
   * for this stream (it fell behind, or the server's own event feed reconnected): every
   * group this device is a current member of. Sync the groups that moved.
   */
  z.object({ type: z.literal('heads'), groups: z.array(groupHeadsSchema) }),
  /** The group's log grew (members, roles, a rotation, a leave, an invite…). */
  z.object({ type: z.literal('log'), groupId: groupIdSchema, seq: z.number().int().min(0), hash: entryHashSchema }),
  /** A key box for this device was stored (fetch it with `boxes.mine`). */
  z.object({ type: z.literal('box'), groupId: groupIdSchema, generation: generationSchema }),
  /** A note was written or deleted (`notes.list` from the previous cursor shows it). */
  z.object({ type: z.literal('note'), groupId: groupIdSchema, noteId: noteIdSchema, version: z.number().int().min(1), cursor: z.number().int().min(1) }),
  /** Admins only: a member asked the mailbox for the key (`mailbox.pending`). */
  z.object({ type: z.literal('request'), groupId: groupIdSchema }),
  /** Another member's device opened its stream for the group: it can be dialled now (sent only to devices waiting for the key). */
  z.object({ type: z.literal('online'), groupId: groupIdSchema, device: fingerprintSchema }),
  /** This device is no longer a member: nothing more comes for this group. */
  z.object({ type: z.literal('removed'), groupId: groupIdSchema }),
]);
export type LiveEvent = z.infer<typeof liveEventSchema>;
export type LiveEventType = LiveEvent['type'];

/** The procedure path of the stream. */
export const LIVE_PROCEDURE = 'events.live';
/** The client's heartbeat: a `PING` text message this often; the server answers `PONG`. */
export const LIVE_CLIENT_PING_MS = 20_000;
/** A client that hears no `PONG` within this closes the socket and reconnects. */
export const LIVE_PONG_TIMEOUT_MS = 10_000;
/**
 * Reconnect backoff: 0.5 s doubling to 30 s, each with up to 50 % random jitter added,
 * so a restarted server is not hit by every client at once.
 */
export function liveReconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + random() * 0.5));
}
