/**
 * The only language between the extension's pages (popup, side panel, options,
 * verification tab) and its background: typed requests, each validated with zod on
 * arrival, answered with data or a named error. Pages receive plaintext, names and
 * fingerprints — never a private key, a seed or an invite secret they did not type.
 */
import { z } from 'zod';
import { fingerprintSchema, groupIdSchema, noteIdSchema } from '@conclave/shared/protocol';

const name = z.string().trim().min(1, 'a name cannot be empty').max(80, 'keep names under 80 characters');
const note = { title: z.string().max(500, 'keep titles under 500 characters'), body: z.string().max(200_000, 'this note is too long: split it') };

export const requestSchema = z.discriminatedUnion('type', [
  /** Everything the popup shows at a glance. */
  z.strictObject({ type: z.literal('status') }),
  z.strictObject({ type: z.literal('identity.create'), displayName: name }),
  z.strictObject({ type: z.literal('identity.rename'), displayName: name }),
  z.strictObject({ type: z.literal('settings.get') }),
  z.strictObject({
    type: z.literal('settings.save'),
    apiUrl: z.url({ protocol: /^https?$/ }),
    signalingUrl: z.url({ protocol: /^https?$/ }),
    iceServers: z.array(z.strictObject({ urls: z.union([z.string(), z.array(z.string())]), username: z.string().optional(), credential: z.string().optional() })).max(10),
  }),
  z.strictObject({ type: z.literal('group.create'), name, policy: z.enum(['verified', 'invite-trust']) }),
  z.strictObject({ type: z.literal('group.confirmRecoverySaved'), groupId: groupIdSchema }),
  /** The recovery code of a group this device created, while its saving is not yet confirmed. */
  z.strictObject({ type: z.literal('group.recoveryCode'), groupId: groupIdSchema }),
  /** An admin starts a new group key now (also the repair of a broken one). */
  z.strictObject({ type: z.literal('group.rotateKey'), groupId: groupIdSchema }),
  /** An admin replaces the recovery code: the old one stops working; the new one is shown until confirmed. */
  z.strictObject({ type: z.literal('group.replaceRecovery'), groupId: groupIdSchema }),
  z.strictObject({ type: z.literal('group.invite'), groupId: groupIdSchema, role: z.enum(['member', 'admin']), expiresInMs: z.number().int().min(60_000).max(30 * 86_400_000), prekeyed: z.boolean() }),
  z.strictObject({ type: z.literal('group.join'), code: z.string().trim().min(1).max(2_000) }),
  /** Where an invite this device made stands: open, used (by whom), expired or cancelled. */
  z.strictObject({ type: z.literal('group.inviteState'), groupId: groupIdSchema, code: z.string().trim().min(1).max(200) }),
  z.strictObject({ type: z.literal('group.restore'), recoveryCode: z.string().trim().min(1).max(200) }),
  z.strictObject({ type: z.literal('group.detail'), groupId: groupIdSchema }),
  z.strictObject({ type: z.literal('group.rename'), groupId: groupIdSchema, name }),
  z.strictObject({ type: z.literal('group.handOver'), groupId: groupIdSchema }),
  z.strictObject({ type: z.literal('group.setRole'), groupId: groupIdSchema, fingerprint: fingerprintSchema, role: z.enum(['member', 'admin']) }),
  z.strictObject({ type: z.literal('group.remove'), groupId: groupIdSchema, fingerprint: fingerprintSchema }),
  z.strictObject({ type: z.literal('group.leave'), groupId: groupIdSchema }),
  /** The person checked with `peer`: forget what that member's device signed about the group log. */
  z.strictObject({ type: z.literal('group.dismissPeerEvidence'), groupId: groupIdSchema, peer: fingerprintSchema }),
  z.strictObject({ type: z.literal('group.sync'), groupId: groupIdSchema.optional() }),
  z.strictObject({ type: z.literal('verify.info'), groupId: groupIdSchema, fingerprint: fingerprintSchema }),
  /** The text decoded from a scanned QR code (camera or image). */
  z.strictObject({ type: z.literal('verify.scanned'), groupId: groupIdSchema, fingerprint: fingerprintSchema, text: z.string().max(1_000) }),
  /** The person compared the safety numbers (read aloud, or typed theirs) and says they match. */
  z.strictObject({ type: z.literal('verify.confirm'), groupId: groupIdSchema, fingerprint: fingerprintSchema, typed: z.string().max(200).optional() }),
  z.strictObject({ type: z.literal('verify.reset'), groupId: groupIdSchema, fingerprint: fingerprintSchema }),
  z.strictObject({ type: z.literal('notes.list'), groupId: groupIdSchema }),
  z.strictObject({ type: z.literal('notes.read'), groupId: groupIdSchema, noteId: noteIdSchema }),
  /** The newest version of a note this device knows, from its cache (no network): an open editor checks it when the group changed. */
  z.strictObject({ type: z.literal('notes.header'), groupId: groupIdSchema, noteId: noteIdSchema }),
  z.strictObject({ type: z.literal('notes.save'), groupId: groupIdSchema, noteId: noteIdSchema.optional(), baseVersion: z.number().int().nonnegative().optional(), ...note }),
  z.strictObject({ type: z.literal('notes.delete'), groupId: groupIdSchema, noteId: noteIdSchema, baseVersion: z.number().int().positive() }),
  /** Every version of a note, newest first (author, time, key generation), verified as one signed chain. */
  z.strictObject({ type: z.literal('notes.history'), groupId: groupIdSchema, noteId: noteIdSchema }),
  /** Saves an earlier version's title and text again as a new version after `baseVersion` (the newest the person saw). */
  z.strictObject({ type: z.literal('notes.restore'), groupId: groupIdSchema, noteId: noteIdSchema, version: z.number().int().positive(), baseVersion: z.number().int().positive() }),
  /** Every readable note of the group as Markdown files: the page zips them and saves the zip on this computer (nothing is sent anywhere). */
  z.strictObject({ type: z.literal('notes.export'), groupId: groupIdSchema }),
  /** A page's unfinished flow (form contents, step), kept so closing the popup loses nothing. */
  z.strictObject({ type: z.literal('draft.save'), key: z.string().max(200), value: z.unknown() }),
  z.strictObject({ type: z.literal('draft.load'), key: z.string().max(200) }),
  z.strictObject({ type: z.literal('draft.clear'), key: z.string().max(200) }),
  z.strictObject({ type: z.literal('panel.open'), groupId: groupIdSchema.optional() }),
  /** This person's devices (refreshed from the server when it answers). */
  z.strictObject({ type: z.literal('device.list') }),
  /** A fresh device offers itself for linking: a QR code and a typable code ("Link to my identity"). Makes the identity if there is none yet. */
  z.strictObject({ type: z.literal('device.offerLink') }),
  /** Where a link stands on this device (either side), without waiting. */
  z.strictObject({ type: z.literal('device.linkState') }),
  /** Stops showing the link code (new device) or forgets a finished link's report. */
  z.strictObject({ type: z.literal('device.cancelLink') }),
  /** An existing device links the new one whose QR code it scanned (its text) or whose code was typed; answers when it needs the person's confirmation or ended. */
  z.strictObject({ type: z.literal('device.link'), text: z.string().trim().min(1, 'scan the QR code or type the code first').max(1_000) }),
  /** The person checked the new device's fingerprint: go on (true) or stop (false); answers when the link ended. */
  z.strictObject({ type: z.literal('device.confirmLink'), accept: z.boolean() }),
  /** Removes another device of this person (lost or sold): every group's key is changed. */
  z.strictObject({ type: z.literal('device.remove'), device: fingerprintSchema }),
]);
export type Request = z.infer<typeof requestSchema>;
export type RequestType = Request['type'];

/** Every failure a page can be told about; each comes with words for the person. */
export const ERROR_CODES = [
  'invalid-request',
  'no-identity',
  'server-unreachable',
  'server-error',
  'unknown-group',
  'not-admin',
  'no-key',
  'conflict',
  'invite-invalid',
  'recovery-invalid',
  'verification-failed',
  'fork',
  'removed',
  'last-admin',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** What happened, and what to do next — both shown to the person as they are. */
export interface ExtensionError {
  code: ErrorCode;
  message: string;
  action: string;
}

export type Response<T = unknown> = { ok: true; data: T } | { ok: false; error: ExtensionError };

/** The draft that says which group the side panel shows: `panel.open` writes it, the panel reads and changes it. */
export const SELECTED_GROUP_DRAFT = 'panel.selectedGroup';

/** Broadcast by the background when something a page shows may have changed. */
export const changedEventSchema = z.strictObject({ type: z.literal('conclave.changed'), groupId: groupIdSchema.optional() });
export type ChangedEvent = z.infer<typeof changedEventSchema>;
