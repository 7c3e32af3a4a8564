/**
 * The storage API's inputs and outputs (DESIGN §7), shared by the server, which parses
 * every input with them, and the clients. docs/API.md documents each procedure and
 * every error code; a test keeps the two in step.
 */
import { z } from 'zod';
import { b64uBytes, fingerprintSchema, generationSchema, groupIdSchema, inviteIdSchema, noteIdSchema, sequenceSchema } from './ids.ts';
import { deviceChainSchema, deviceEntrySchema, keyBoxSchema, logEntrySchema, logHeadSchema, MAX_DEVICE_CHAIN_ENTRIES, noteEnvelopeSchema, publicBundleSchema } from './schemas.ts';

/** Every error code the storage API answers with, once. */
export const API_ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'TOO_MANY_REQUESTS',
  'CHALLENGE_INVALID',
  'SIGNATURE_INVALID',
  'LOG_REJECTED',
  'CLOCK_SKEW',
  'INVITE_CLOSED',
  'BOX_REJECTED',
  'NOTE_REJECTED',
  'CHAIN_REJECTED',
  'INTERNAL',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** What every API error carries in `error.data.conclave` (besides tRPC's own fields). */
export interface ApiErrorData {
  code: ApiErrorCode;
  /** For LOG_REJECTED: the log rule that failed (a `LogRejection`); for CHAIN_REJECTED: the chain rule (a `ChainRejection`, or `device-claimed`). */
  reason?: string;
  /** For CONFLICT on a log or a device chain: the current head; on a note: the current version. */
  head?: { seq: number; hash: string };
  currentVersion?: number;
}

// --- HTTP ---------------------------------------------------------------------

/**
 * The most calls one tRPC batch (`/trpc/a,b,c?batch=1`) may carry; a longer batch is
 * refused with BAD_REQUEST before any call runs. Every call counts against the per-IP
 * and per-session rate limits (docs/API.md "Limits").
 */
export const MAX_BATCH_CALLS = 16;
/**
 * The longest procedure path of one request, commas of a batch included (Fastify's
 * `maxParamLength`): 16 of the longest names (15 characters) and their commas fit.
 * Beyond it the server answers 414.
 */
export const MAX_BATCH_PATH_CHARS = 256;

// --- auth ---------------------------------------------------------------------

export const challengeOutput = z.object({ challengeId: b64uBytes(16), challenge: b64uBytes(32), expiresAt: z.number() });

/** The device signs `labelled('conclave/v2/api-challenge', {challenge, fingerprint})` with its sign key. */
export const loginInput = z.strictObject({
  challengeId: b64uBytes(16),
  bundle: publicBundleSchema,
  sig: b64uBytes(64),
});
export const loginOutput = z.object({ token: z.string(), expiresAt: z.number(), fingerprint: fingerprintSchema });

// --- identities ----------------------------------------------------------------

export const identityGetInput = z.strictObject({ fingerprint: fingerprintSchema });

// --- people: device chains (DESIGN §3) -----------------------------------------------

/** A person's device chain by person id (the founding device's fingerprint). */
export const personGetInput = z.strictObject({ person: fingerprintSchema });
/** The chain a device currently speaks for (its own founding chain, or the one it was linked into). */
export const personOfDeviceInput = z.strictObject({ device: fingerprintSchema });
export const personOutput = z.object({ entries: deviceChainSchema, head: logHeadSchema });

/**
 * Append with compare-and-set: `entries[0].seq` must be the next sequence number (0 with
 * a `found` entry publishes a new person). The server replays the chain with the same
 * rules as every client and refuses a device that already speaks for another person.
 */
export const personAppendInput = z.strictObject({
  person: fingerprintSchema,
  entries: z.array(deviceEntrySchema).min(1).max(MAX_DEVICE_CHAIN_ENTRIES),
});

/** How long a link offer (a new device waiting to be linked by typed code) is kept at most. */
export const LINK_OFFER_MAX_MS = 15 * 60 * 1000;

/**
 * A new device waiting to be linked posts its bundle under `lookup`, 16 bytes derived
 * from the typed link code (`conclave/v3/link-lookup`); the code's secret part never
 * reaches the server. The existing device finds the bundle by the same lookup and
 * proves it knows the whole code over the peer channel.
 */
export const linkOfferInput = z.strictObject({ lookup: b64uBytes(16), bundle: publicBundleSchema, expiresAt: z.number().int().min(0) });
export const linkFindInput = z.strictObject({ lookup: b64uBytes(16) });
export const linkFindOutput = z.object({ bundle: publicBundleSchema, expiresAt: z.number() });

// --- groups and logs -------------------------------------------------------------

/** The most entries one append or one read carries. */
export const MAX_ENTRIES_PER_CALL = 500;
/** The most key boxes one call carries (a rotation of a large group). */
export const MAX_BOXES_PER_CALL = 2000;

export const groupCreateInput = z.strictObject({
  entries: z.array(logEntrySchema).min(1).max(MAX_ENTRIES_PER_CALL),
  boxes: z.array(keyBoxSchema).max(MAX_BOXES_PER_CALL).default([]),
});

export const logReadInput = z.strictObject({
  groupId: groupIdSchema,
  fromSeq: sequenceSchema.default(0),
  limit: z.number().int().min(1).max(MAX_ENTRIES_PER_CALL).default(MAX_ENTRIES_PER_CALL),
});
export const logReadOutput = z.object({ entries: z.array(logEntrySchema), head: logHeadSchema });

/** Append with compare-and-set: `entries[0].seq` must be the next sequence number. */
export const logAppendInput = z.strictObject({
  groupId: groupIdSchema,
  entries: z.array(logEntrySchema).min(1).max(MAX_ENTRIES_PER_CALL),
  /** Key boxes of a rotation the entries start, stored in the same transaction. */
  boxes: z.array(keyBoxSchema).max(MAX_BOXES_PER_CALL).default([]),
});

export const groupSummary = z.object({
  groupId: groupIdSchema,
  head: logHeadSchema,
  /** This device's status: `unlinked` when its person unlinked it (the group's log says so). */
  status: z.enum(['member', 'removed', 'left', 'replaced', 'unlinked']),
});

// --- invites and the mailbox -----------------------------------------------------

/**
 * `proof`: the invite key's signature over `labelled('conclave/v2/invite-lookup',
 * {groupId, inviteId, fingerprint})` (fingerprint: the signed-in device), which only a
 * holder of the invite code can make: the invite id alone is in the log every member
 * reads, so it must not open the log.
 */
export const inviteLookupInput = z.strictObject({ inviteId: inviteIdSchema, proof: b64uBytes(64) });
export const inviteLookupOutput = z.object({
  groupId: groupIdSchema,
  entries: z.array(logEntrySchema),
  /**
   * For a pre-keyed invite: every sender's box sealed to the invite at the newest
   * generation that has any (ordered by sender); empty otherwise. Try each.
   */
  boxes: z.array(keyBoxSchema),
});

export const keyRequestInput = z.strictObject({ groupId: groupIdSchema });
export const pendingOutput = z.array(z.object({ fingerprint: fingerprintSchema, generation: generationSchema, requestedAt: z.number() }));

// --- key boxes ------------------------------------------------------------------

export const boxesPostInput = z.strictObject({ groupId: groupIdSchema, boxes: z.array(keyBoxSchema).min(1).max(MAX_BOXES_PER_CALL) });
export const boxesMineInput = z.strictObject({ groupId: groupIdSchema, generation: generationSchema.optional() });

// --- notes ----------------------------------------------------------------------

/** A note's version as the stores hold it (PostgreSQL INTEGER): 1 to 2^31 - 1, as in the envelope. */
export const noteVersionSchema = noteEnvelopeSchema.shape.version;

export const notePutInput = z.strictObject({ envelope: noteEnvelopeSchema });
export const noteGetInput = z.strictObject({ groupId: groupIdSchema, noteId: noteIdSchema, version: noteVersionSchema.optional() });

export const NOTE_LIST_MAX = 1000;
export const noteListInput = z.strictObject({
  groupId: groupIdSchema,
  /** The cursor a previous call returned: only notes changed since come back. */
  since: z.number().int().min(0).default(0), // compared with a BIGINT change id: zod's int() already stops at 2^53 - 1
  limit: z.number().int().min(1).max(NOTE_LIST_MAX).default(200),
});

/** A note without its body: enough to list and decrypt titles, fetched incrementally. */
export const noteHeaderSchema = noteEnvelopeSchema.omit({ body: true }).extend({ bodyBytes: z.number().int().min(0) });
export type NoteHeader = z.infer<typeof noteHeaderSchema>;
export const noteListOutput = z.object({ items: z.array(noteHeaderSchema), cursor: z.number().int(), more: z.boolean() });
