/**
 * What the background answers to each request type (`Answers`), and the two ends of the
 * contract built on it: `ask(request)` resolves with `Answers[request.type]` (inferred,
 * never written at a call site), and the background's `Handlers` table must answer
 * every request type with exactly that shape, or `tsc` fails.
 * (The view types themselves are in messages/views.ts; these are the few shapes that
 * only one request returns.)
 */
import type { HandoverSkip } from '@conclave/shared/client';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Request, RequestType } from './protocol.ts';
import type {
  DevicesView,
  LinkStateView,
  RemovedDeviceView,
  GroupDetailView,
  IdentityView,
  KeyWaitView,
  ListedNoteView,
  NoteHeaderView,
  NoteView,
  NoteHistoryView,
  ExportView,
  RestoredVersionView,
  SaveNoteResult,
  Settings,
  StatusView,
  TrustView,
  VerifyView,
} from './views.ts';

export interface CreatedGroupAnswer {
  groupId: GroupId;
  /** Shown until `group.confirmRecoverySaved`; stored nowhere else. */
  recoveryCode: string;
}

export interface PendingRecoveryAnswer {
  groupId: GroupId;
  name: string | null;
  recoveryCode: string;
  /** Made by "Replace the recovery code" (the old one no longer works), not with the group. */
  replaced: boolean;
}

export interface ReplacedRecoveryAnswer {
  groupId: GroupId;
  name: string | null;
  /** Shown until `group.confirmRecoverySaved`; kept only sealed until then. */
  recoveryCode: string;
  generation: number;
}

export interface InviteAnswer {
  code: string;
  /** `conclave:join/<code>?from=<your name>`: the same invite, for pasting into a message. */
  link: string;
  expiresAt: number;
}

export interface JoinAnswer {
  groupId: GroupId;
  hasKey: boolean;
  /** Set while the key has not arrived: the first round's outcome. */
  keyWait: KeyWaitView | null;
}

export interface HandOverAnswer {
  sent: Array<{ fingerprint: Fingerprint; name: string }>;
  skipped: Array<{ fingerprint: Fingerprint; name: string; reason: HandoverSkip; message: string }>;
}

export interface RemoveAnswer {
  generation: number;
  /** Members the new key could not be sealed to (shown, never hidden). */
  unreachable: number;
}

export interface VerifiedAnswer {
  fingerprint: Fingerprint;
  trust: TrustView;
  /** After a scan by a device still waiting for the key: the round it ran at once. */
  keyWait: KeyWaitView | null;
  hasKey: boolean;
  /** This device holds the key: how it went to the person just verified (`Handed`). */
  handed: Handed;
}

/**
 * How the key went to a person a device holding it has just verified: `live` to their
 * device online now; `mailbox` sealed for their device to fetch (none of their devices
 * waiting for it was online); `unfinished-mailbox` their device was online but the live
 * hand-over did not finish (the connection timed out or dropped), so it was sealed in the
 * mailbox instead; `unfinished` the same, and nothing else was sent (this device does not
 * answer the mailbox: try again); null nothing handed (they hold it already, or this
 * device may not answer the mailbox and they are offline).
 */
export type Handed = 'live' | 'mailbox' | 'unfinished-mailbox' | 'unfinished' | null;

export interface Answers {
  status: StatusView;
  'identity.create': IdentityView;
  'identity.rename': IdentityView;
  'settings.get': Settings;
  'settings.save': Settings;
  'group.create': CreatedGroupAnswer;
  'group.confirmRecoverySaved': { groupId: GroupId };
  'group.recoveryCode': PendingRecoveryAnswer;
  'group.replaceRecovery': ReplacedRecoveryAnswer;
  'group.rotateKey': RemoveAnswer;
  'group.invite': InviteAnswer;
  'group.join': JoinAnswer;
  /** `usedBy`: the name of the person who joined with it (set with `used`). */
  'group.inviteState': { state: 'open' | 'used' | 'expired' | 'revoked'; usedBy: string | null };
  /** `returning`: this device was in the group before (removed, or restoring twice); false on a device new to it. */
  'group.restore': { groupId: GroupId; returning: boolean };
  'group.detail': GroupDetailView;
  'group.rename': { groupId: GroupId; name: string };
  'group.handOver': HandOverAnswer;
  'group.setRole': { groupId: GroupId; fingerprint: Fingerprint; role: 'member' | 'admin' };
  'group.remove': RemoveAnswer;
  'group.leave': { groupId: GroupId };
  /** The alarm the group still shows afterwards (another member's evidence, say), or null. */
  'group.dismissPeerEvidence': { groupId: GroupId; alarm: string | null };
  'group.sync': StatusView;
  'verify.info': VerifyView;
  'verify.scanned': VerifiedAnswer;
  'verify.confirm': VerifiedAnswer;
  'verify.reset': VerifiedAnswer;
  'notes.list': ListedNoteView[];
  'notes.read': NoteView;
  /** Null when this device has not cached the note (or could not open its newest version). */
  'notes.header': NoteHeaderView | null;
  'notes.save': SaveNoteResult;
  'notes.delete': { noteId: NoteId; version: number };
  'notes.history': NoteHistoryView;
  'notes.restore': RestoredVersionView;
  'notes.export': ExportView;
  'draft.save': null;
  'draft.load': unknown;
  'draft.clear': null;
  'panel.open': { groupId: GroupId | null };
  'device.list': DevicesView;
  'device.offerLink': LinkStateView;
  'device.linkState': LinkStateView;
  'device.cancelLink': LinkStateView;
  'device.link': LinkStateView;
  'device.confirmLink': LinkStateView;
  'device.remove': RemovedDeviceView;
}

// Every request type has an answer, and nothing else does.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const ANSWERS_COVER_EVERY_REQUEST: Exact<keyof Answers, RequestType> = true;

/**
 * The request whose `type` is `K`. Written as an intersection (not `Extract`) so that
 * `ask({ type: 'group.join', code })` infers `K` from the literal and still refuses a
 * missing or unknown field.
 */
export type RequestOf<K extends RequestType> = { type: K } & Request;

/** What the background answers to a request of type `K`. */
export type AnswerTo<K extends RequestType> = Answers[K];

/** The background's side: one handler per request type, answering that type's shape. */
export type Handlers = { [K in RequestType]: (request: Extract<Request, { type: K }>) => Promise<Answers[K]> };
