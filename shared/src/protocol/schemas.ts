/**
 * zod schemas of every wire object (docs/PROTOCOL.md describes each field).
 * Objects are strict: an unknown field is an error, never silently dropped, so
 * what a client signs is exactly what a server stores and a peer verifies.
 */
import { z } from 'zod';
import {
  b64uBytes,
  b64uVar,
  entryHashSchema,
  fingerprintSchema,
  generationSchema,
  groupIdSchema,
  inviteIdSchema,
  noteIdSchema,
  roleSchema,
  sequenceSchema,
  timestampSchema,
} from './ids.ts';

export const PROTOCOL_VERSION = 3 as const;
const v = z.literal(PROTOCOL_VERSION);

// --- identity (DESIGN §3) ---------------------------------------------------

/** A device's public keys, the box key signed by the sign key. */
export const publicBundleSchema = z.strictObject({
  v,
  signKey: b64uBytes(32),
  boxKey: b64uBytes(32),
  sig: b64uBytes(64),
});
export type PublicBundle = z.infer<typeof publicBundleSchema>;

// --- device chains: a person is a set of devices (DESIGN §3) ----------------

/** The most entries one person's device chain may hold (every link and unlink counts). */
export const MAX_DEVICE_CHAIN_ENTRIES = 1000;

const deviceEntryBase = {
  v,
  /** The person: the fingerprint of the device that founded the chain. It never changes. */
  person: fingerprintSchema,
  seq: sequenceSchema,
  prev: entryHashSchema.nullable(),
  /** The device that signed this entry. */
  author: fingerprintSchema,
  at: timestampSchema,
  sig: b64uBytes(64),
};

/**
 * One entry of a person's device chain. `found` (entry 0) is signed by the founding
 * device and defines the person; `link` adds a device, signed by a current device of
 * the person and consented to by the new device; `unlink` removes a device, signed by
 * another current device of the person.
 */
export const deviceEntrySchema = z.discriminatedUnion('op', [
  z.strictObject({ ...deviceEntryBase, op: z.literal('found'), body: z.strictObject({ device: publicBundleSchema }) }),
  z.strictObject({
    ...deviceEntryBase,
    op: z.literal('link'),
    body: z.strictObject({
      device: publicBundleSchema,
      /** The new device's signature over `{person, seq, prev, certifier}`: it agreed to join this person here. */
      consent: b64uBytes(64),
    }),
  }),
  z.strictObject({ ...deviceEntryBase, op: z.literal('unlink'), body: z.strictObject({ device: fingerprintSchema }) }),
]);
export type DeviceEntry = z.infer<typeof deviceEntrySchema>;
export type DeviceOp = DeviceEntry['op'];
export type UnsignedDeviceEntry = DeviceEntry extends infer E ? (E extends DeviceEntry ? Omit<E, 'sig'> : never) : never;

/** A whole device chain, from its `found` entry. */
export const deviceChainSchema = z.array(deviceEntrySchema).min(1).max(MAX_DEVICE_CHAIN_ENTRIES);

// --- group log (DESIGN §4) --------------------------------------------------

/** Nonce ‖ AES-256-GCM(prevKey_g, s_k) ‖ tag: one earlier seed wrapped under a new generation's prev key. */
export const LINK_WRAP_BYTES = 12 + 32 + 16;
/** The most earlier seeds one rotation may link (a repair bridges a few broken generations). */
export const MAX_ROTATION_LINKS = 8;

/** An earlier generation's seed, wrapped so that whoever holds the new seed can open it. */
export const seedLinkSchema = z.strictObject({
  generation: generationSchema,
  wrap: b64uBytes(LINK_WRAP_BYTES),
});
export type SeedLink = z.infer<typeof seedLinkSchema>;

/**
 * A new generation, carried by rotate, remove and a recovery change (always by an admin).
 * `links` wraps earlier seeds, newest first: normally just generation − 1; an admin's
 * repair links the newest good seeds it holds, skipping or bridging a broken generation.
 */
export const rotationSchema = z.strictObject({
  generation: generationSchema.min(1),
  seedCommitment: b64uBytes(32),
  links: z.array(seedLinkSchema).min(1).max(MAX_ROTATION_LINKS),
});
export type Rotation = z.infer<typeof rotationSchema>;

/** Who may receive the group key from a peer: only verified members, or also members trusted by their invite. */
export const handoverPolicySchema = z.enum(['verified', 'invite-trust']);
export type HandoverPolicy = z.infer<typeof handoverPolicySchema>;

export const createBodySchema = z.strictObject({
  /** The creator's device chain: the creator is a person, any of whose devices may sign. */
  creator: deviceChainSchema,
  nonce: b64uBytes(16),
  seedCommitment: b64uBytes(32),
  policy: handoverPolicySchema,
});

export const inviteBodySchema = z.strictObject({
  invite: inviteIdSchema,
  /** X25519 key derived from the invite secret: present for a pre-keyed invite. */
  boxKey: b64uBytes(32).optional(),
  expiresAt: timestampSchema,
  role: roleSchema,
});

export const acceptanceSchema = z.strictObject({
  invite: inviteIdSchema,
  sig: b64uBytes(64),
});

export const addBodySchema = z.strictObject({
  /** The new member's device chain, from its `found` entry. */
  member: deviceChainSchema,
  role: roleSchema,
  acceptance: acceptanceSchema.optional(),
});

export const removeBodySchema = z.strictObject({
  /** The person removed (with every device of theirs). */
  member: fingerprintSchema,
  rotation: rotationSchema,
});

/** A member leaves. It carries no new key: the departing member never chooses the next generation; an admin rotates. */
export const leaveBodySchema = z.strictObject({});

export const rotateBodySchema = z.strictObject({
  rotation: rotationSchema,
});

export const roleBodySchema = z.strictObject({
  member: fingerprintSchema,
  role: roleSchema,
});

export const recoveryBodySchema = z.strictObject({
  recovery: publicBundleSchema,
  /** Required when a recovery recipient is replaced: the old one must lose the key. */
  rotation: rotationSchema.optional(),
});

/**
 * A member's device chain moved on: `entries` continue the chain this log holds for
 * `person`. When they unlink a device, `rotation` is required (the unlinked device holds
 * the current key); the person themself may sign it, admin or not.
 */
export const devicesBodySchema = z.strictObject({
  person: fingerprintSchema,
  entries: z.array(deviceEntrySchema).min(1).max(MAX_DEVICE_CHAIN_ENTRIES),
  rotation: rotationSchema.optional(),
});

const entryBase = {
  v,
  groupId: groupIdSchema,
  seq: sequenceSchema,
  prev: entryHashSchema.nullable(),
  author: fingerprintSchema,
  at: timestampSchema,
  sig: b64uBytes(64),
};

export const logEntrySchema = z.discriminatedUnion('op', [
  z.strictObject({ ...entryBase, op: z.literal('create'), body: createBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('invite'), body: inviteBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('add'), body: addBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('remove'), body: removeBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('leave'), body: leaveBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('rotate'), body: rotateBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('role'), body: roleBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('recovery'), body: recoveryBodySchema }),
  z.strictObject({ ...entryBase, op: z.literal('devices'), body: devicesBodySchema }),
]);
export type LogEntry = z.infer<typeof logEntrySchema>;
export type LogOp = LogEntry['op'];
export type LogBody<O extends LogOp> = Extract<LogEntry, { op: O }>['body'];
export type UnsignedLogEntry = LogEntry extends infer E ? (E extends LogEntry ? Omit<E, 'sig'> : never) : never;

/** Where a log ends: the sequence number and hash of its last entry. */
export const logHeadSchema = z.strictObject({
  seq: sequenceSchema,
  hash: entryHashSchema,
});
export type LogHead = z.infer<typeof logHeadSchema>;

// --- key boxes (DESIGN §5) --------------------------------------------------

/** HPKE ciphertext of a 32-byte seed: 32 + 16-byte tag. */
export const KEY_BOX_CIPHERTEXT_BYTES = 48;

export const keyBoxRecipientSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('member'), id: fingerprintSchema }),
  z.strictObject({ kind: z.literal('invite'), id: inviteIdSchema }),
]);
export type KeyBoxRecipient = z.infer<typeof keyBoxRecipientSchema>;

export const keyBoxSchema = z.strictObject({
  v,
  groupId: groupIdSchema,
  generation: generationSchema,
  recipient: keyBoxRecipientSchema,
  sender: fingerprintSchema,
  enc: b64uBytes(32),
  ciphertext: b64uBytes(KEY_BOX_CIPHERTEXT_BYTES),
  sig: b64uBytes(64),
});
export type KeyBox = z.infer<typeof keyBoxSchema>;

// --- notes (DESIGN §5) -------------------------------------------------------

/** The default largest note body (plaintext); servers may configure less. */
export const NOTE_BODY_MAX_BYTES = 1024 * 1024;
export const NOTE_TITLE_MAX_BYTES = 1024;
/** AES-GCM nonce and tag around every sealed note part. */
export const AEAD_OVERHEAD = 12 + 16;

export const noteEnvelopeSchema = z.strictObject({
  v,
  groupId: groupIdSchema,
  noteId: noteIdSchema,
  version: z.number().int().min(1).max(2 ** 31 - 1),
  generation: generationSchema,
  author: fingerprintSchema,
  at: timestampSchema,
  deleted: z.boolean(),
  /**
   * The hash of version `version - 1`'s whole signed envelope (`noteVersionHash`), null
   * for version 1: the versions of a note form a signed chain (DESIGN §5).
   */
  prev: b64uBytes(32).nullable(),
  /** The note's content key under the generation's note key. */
  wrappedKey: b64uBytes(AEAD_OVERHEAD + 32),
  title: b64uVar(AEAD_OVERHEAD, AEAD_OVERHEAD + NOTE_TITLE_MAX_BYTES),
  body: b64uVar(AEAD_OVERHEAD, AEAD_OVERHEAD + NOTE_BODY_MAX_BYTES),
  sig: b64uBytes(64),
});
export type NoteEnvelope = z.infer<typeof noteEnvelopeSchema>;

// --- peer handshake (DESIGN §3, §6.3) ---------------------------------------

/** The largest handshake message accepted from a peer, in characters of JSON. */
export const HANDSHAKE_MESSAGE_MAX_CHARS = 16 * 1024;

const helloFields = {
  v,
  groupId: groupIdSchema,
  bundle: publicBundleSchema,
  head: logHeadSchema,
  nonce: b64uBytes(32),
};

export const handshakeMessageSchema = z.discriminatedUnion('t', [
  /** Joiner → holder: who I am, whom I expect to reach, my log head. */
  z.strictObject({ t: z.literal('hello'), ...helloFields, expect: fingerprintSchema }),
  /** Holder → joiner: who I am, my log head, my signature over both hellos. */
  z.strictObject({ t: z.literal('welcome'), ...helloFields, sig: b64uBytes(64) }),
  /** Joiner → holder: my signature over both hellos, and the QR secret if I scanned yours. */
  z.strictObject({ t: z.literal('auth'), qrSecret: b64uBytes(16).optional(), sig: b64uBytes(64) }),
  /** Holder → joiner: the group key. */
  z.strictObject({ t: z.literal('key'), box: keyBoxSchema }),
  /** Either way: the handshake ends here, and why. */
  z.strictObject({
    t: z.literal('refuse'),
    reason: z.enum([
      'malformed',
      'wrong-peer',
      'bad-signature',
      'wrong-group',
      'not-a-member',
      'not-verified',
      'key-changed',
      'removed',
      'no-key',
      'fork',
      'behind',
      'unexpected-message',
    ]),
  }),
]);
export type HandshakeMessage = z.infer<typeof handshakeMessageSchema>;
