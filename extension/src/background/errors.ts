/**
 * Every failure the background reports, as an `ExtensionError`: what happened and what
 * to do next, in words a person can act on. Errors from the protocol core and the
 * storage API client are mapped here, in one place, so each handler only throws.
 * No message built here carries a key, a seed, an invite secret or note text.
 */
import { isUnreachable } from '@conclave/shared/client';
import { ApiCallError, GroupClientError, NoteConflictError } from '@conclave/shared/client';
import { PeerEvidenceError } from '@conclave/shared/client';
import { ConclaveError, DeviceChainError, LogVerificationError } from '@conclave/shared/crypto';
import { NoteOpenError } from '@conclave/shared/crypto';
import type { ErrorCode, ExtensionError } from '../messages/protocol.ts';

/** A failure the background itself decided on, already in words for the person. */
export class BackgroundError extends Error {
  override readonly name = 'BackgroundError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly action: string,
  ) {
    super(message);
  }

  toExtensionError(): ExtensionError {
    return { code: this.code, message: this.message, action: this.action };
  }
}

export function fail(code: ErrorCode, message: string, action: string): never {
  throw new BackgroundError(code, message, action);
}

/** What the mapping needs to name things: the server's address, the group's name. */
export interface ErrorContext {
  apiUrl?: string;
  /** What the person was doing, e.g. "join the group" (for the unreachable message). */
  operation?: string;
  /** Which kind of code the person typed, when a parse error is about a typed code. */
  typedCode?: 'invite' | 'recovery';
}

/** The storage API could not be reached at all (no answer, refused, DNS). */
export function isNetworkError(error: unknown): boolean {
  return isUnreachable(error);
}

/** A note could not be opened: the words the list and the reader show for each reason. */
export function noteFailureWords(reason: NoteOpenError['reason'], hasKey: boolean): { message: string; action: string } {
  const tampered = "Do not trust this note; tell the group's admin.";
  switch (reason) {
    case 'no-key':
      return hasKey
        ? { message: 'Written before you could have the key.', action: 'Ask its author to open it and save it again, so it is written with the current key.' }
        : { message: 'The group key has not reached this device yet.', action: 'Wait for a member to come online, or ask an admin.' };
    case 'bad-signature':
      return { message: 'Signature invalid — possibly tampered.', action: tampered };
    case 'moved':
      return { message: 'Stored under another name or version than it was written for — possibly tampered.', action: tampered };
    case 'unknown-author':
      return { message: 'Signed by someone who was not a member when it was written — possibly tampered.', action: tampered };
    case 'decrypt':
      return { message: 'It cannot be decrypted — damaged or tampered.', action: tampered };
    case 'malformed':
      return { message: 'This note is damaged.', action: tampered };
    case 'log-behind':
      return { message: 'Written after a group change this device has not seen yet.', action: 'Sync the group and open it again.' };
    case 'vanished':
      return {
        message: 'Removed by the server without a deletion record. Nobody in the group deleted it: this device saw it, and the server no longer has it.',
        action: "Ask a member who still has it to save it again, and tell the group's admin: the server may be losing or hiding notes.",
      };
    case 'forked':
      return { message: 'The server showed a different version of this note than the one this device already saw — possibly tampered.', action: tampered };
    case 'broken-chain':
      return { message: 'This version does not follow on from the earlier versions of the note — possibly tampered.', action: tampered };
    case 'generation-went-back':
      return {
        message: 'This version was written with an old group key after the note had moved to a newer one — possibly by someone who was removed.',
        action: tampered,
      };
  }
}

/** Words for a note shown with a flag (client/notes.ts `NoteWarning`): what happened, what to do. */
export function noteWarningWords(
  warning: { code: 'rolled-back'; seenVersion: number; shownVersion: number } | { code: 'late-from-departed'; authorName: string; how: 'removed' | 'left' | 'replaced' | 'unlinked' },
): { code: 'rolled-back' | 'late-from-departed'; message: string; action: string } {
  if (warning.code === 'rolled-back') {
    return {
      code: 'rolled-back',
      message: `The server showed an older version of this note (version ${warning.shownVersion}) than this device has already seen (version ${warning.seenVersion}).`,
      action: "A newer change may be missing from the server. Ask whoever edited it last whether their change is lost, and tell the group's admin.",
    };
  }
  if (warning.how === 'unlinked') {
    return {
      code: 'late-from-departed',
      message: `Written by one of ${warning.authorName}'s devices after ${warning.authorName} removed that device; this device did not see it before the removal.`,
      action: `That device should no longer be able to write here (it may be lost or stolen). Ask ${warning.authorName} whether they wrote it before trusting it.`,
    };
  }
  const left = warning.how === 'left' ? 'who has since left the group' : 'who has since been removed from the group';
  const before = warning.how === 'left' ? 'before they left' : 'before they were removed';
  return {
    code: 'late-from-departed',
    message: `Written by ${warning.authorName}, ${left}; this device did not see it ${before}.`,
    action: "They should no longer be able to write here, so the server may have let them in. Check with the group before trusting it, and tell the group's admin.",
  };
}

/**
 * Why a group's history was refused, in words for someone who has never heard of a
 * device chain: the v3 rejections about people's devices say who could be pretending,
 * the rest name the rule.
 */
export function logRejectionWords(reason: LogVerificationError['reason']): string {
  switch (reason) {
    case 'device-chain':
      return "a member's list of devices in it was not signed by that member's own devices — someone (possibly the server) tried to add a device to a person who did not approve it";
    case 'device-unlinked':
      return 'it contains a change signed by a device its owner had already removed (a lost or sold device trying to act)';
    case 'device-claimed':
      return "it lists one device as belonging to two different people, so one of them is not who they claim";
    case 'bad-signature':
      return 'one of its changes carries a signature that does not check';
    case 'not-admin':
      return 'one of its changes was made by someone who is not an admin';
    default:
      return `it breaks the group's rules (${reason})`;
  }
}

/** Why a person's device list was refused, in words (DeviceChainError reasons). */
export function chainRejectionWords(reason: DeviceChainError['reason']): string {
  switch (reason) {
    case 'rollback':
      return "the server showed an older list of this person's devices than this device has already seen";
    case 'fork':
      return "the server showed a different list of this person's devices than this device saw before";
    case 'not-a-device':
    case 'bad-signature':
    case 'wrong-person':
      return "a device in it was not approved by one of this person's own devices — someone (possibly the server) tried to add it";
    case 'device-unlinked':
      return 'a device that had been removed tried to sign a change';
    default:
      return `it breaks the rules for a person's devices (${reason})`;
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function fromApi(error: ApiCallError, context: ErrorContext): ExtensionError {
  const server = sentence(error.message);
  switch (error.code) {
    case 'UNAUTHORIZED':
    case 'CHALLENGE_INVALID':
    case 'SIGNATURE_INVALID':
      return { code: 'server-error', message: 'The storage API did not accept this device\'s sign-in.', action: 'Try again in a moment; if it keeps happening, check the storage API address in Options.' };
    case 'FORBIDDEN':
      if (context.typedCode === 'recovery') {
        // The code's key is no longer in the group: an admin replaced the recovery code.
        return { code: 'recovery-invalid', message: 'This recovery code no longer opens the group: an admin has replaced it with a new one.', action: "Use the group's newest recovery kit, or ask one of its admins to invite you." };
      }
      return { code: 'removed', message: 'The storage API says this device is not a member of this group (any more).', action: 'Sync the group to see what changed, or ask one of its admins.' };
    case 'NOT_FOUND':
      // A join: the server cannot tell a mistyped secret from an unknown group (nor should it say which).
      if (context.typedCode === 'invite') return inviteNotValid();
      if (context.typedCode === 'recovery') return recoveryNotValid();
      return { code: 'unknown-group', message: 'The storage API does not know this group or invite.', action: 'Check that Options points at the storage API the group uses.' };
    case 'CONFLICT':
      return { code: 'conflict', message: 'Someone else changed this at the same moment.', action: 'Try again: the newest version is loaded first.' };
    case 'INVITE_CLOSED':
      return { code: 'invite-invalid', message: 'This invite was already used, has expired or was cancelled.', action: ASK_INVITER };
    case 'TOO_MANY_REQUESTS':
      return { code: 'server-error', message: 'The storage API is limiting how often this device may call it.', action: 'Wait a minute and try again.' };
    case 'CLOCK_SKEW':
      return { code: 'server-error', message: "This device's clock is too far from the storage API's clock.", action: "Set this computer's date and time correctly, then try again." };
    case 'LOG_REJECTED':
      if (error.data.reason === 'last-admin') return lastAdmin();
      return { code: 'server-error', message: `The storage API refused the change: ${server}`, action: 'Sync the group and try again.' };
    case 'PAYLOAD_TOO_LARGE':
      return { code: 'server-error', message: 'This is larger than the storage API accepts.', action: 'Make the note shorter, or split it in two.' };
    default:
      return { code: 'server-error', message: `The storage API could not do this (${error.code}).`, action: context.apiUrl ? `Try again; if it keeps happening, check the storage API at ${context.apiUrl}.` : 'Try again later.' };
  }
}

/** What a person holding a bad invite can do: only the one who sent it can help. */
const ASK_INVITER = 'Ask the person who invited you for a new invite. An invite works once and expires, so an old one cannot be used again.';

/**
 * Right group with a wrong secret, or a group the server does not know: to the person,
 * the same thing — the code they hold does not open anything.
 */
export function inviteNotValid(): ExtensionError {
  return {
    code: 'invite-invalid',
    message: 'This invite code is wrong, or no longer valid.',
    action: 'Check that you pasted the whole link or code. If it still fails, ask the person who invited you to send it again, or to make a new invite.',
  };
}

/**
 * A recovery code the server finds no group for: a code typed wrong, or a group that is
 * gone. The field is what to fix, so the words do not send the person to Options.
 */
export function recoveryNotValid(): ExtensionError {
  return {
    code: 'recovery-invalid',
    message: 'This recovery code is wrong, or its group no longer exists.',
    action: 'Check the code against your recovery kit and type it again. If it is right, ask a member of the group whether the group still exists.',
  };
}

export function lastAdmin(): ExtensionError {
  return { code: 'last-admin', message: 'This would leave the group without a person as admin.', action: 'Make someone else an admin first.' };
}

/** The error a page is told about, for anything a handler threw. */
export function toExtensionError(error: unknown, context: ErrorContext = {}): ExtensionError {
  if (error instanceof BackgroundError) return error.toExtensionError();
  if (isNetworkError(error)) {
    const where = context.apiUrl ? `the storage API at ${context.apiUrl}` : 'the storage API';
    return {
      code: 'server-unreachable',
      message: `Could not reach ${where}${context.operation ? ` to ${context.operation}` : ''}.`,
      action: 'Check that the storage API is running and its address in Options, then try again.',
    };
  }
  if (error instanceof NoteConflictError) {
    return { code: 'conflict', message: 'Someone saved a newer version of this note meanwhile.', action: 'Open the note again to see their version, then make your change on it.' };
  }
  if (error instanceof ApiCallError) return fromApi(error, context);
  if (error instanceof PeerEvidenceError) {
    return error.reason === 'stale-log'
      ? {
          code: 'server-error',
          message: "The server has not yet shown this device changes to this group that another member's device already has, so it does not save new notes for now.",
          action: "Try again in a minute: they usually arrive with the next sync. If this lasts, the server may be hiding them; tell the group's admins.",
        }
      : {
          code: 'fork',
          message: "Another member's device signed a different history of this group than the one this device holds, so it does not save new notes for now.",
          action: "Compare safety numbers with the other members in person or on a call, and tell the group's admins. This clears by itself once their device shows the same history.",
        };
  }
  if (error instanceof GroupClientError) {
    switch (error.reason) {
      case 'unknown-group':
        return { code: 'unknown-group', message: 'This device does not know this group.', action: 'Join it with an invite, or restore it with its recovery code.' };
      case 'no-key':
        return { code: 'no-key', message: 'The group key has not reached this device yet.', action: 'Wait for a member to come online, or ask an admin.' };
      case 'not-admin':
        return { code: 'not-admin', message: 'Only an admin of the group can do this.', action: 'Ask one of its admins.' };
      case 'not-member':
        return { code: 'removed', message: 'This device is no longer a member of this group.', action: 'Ask an admin to invite you again if you need it back.' };
      case 'busy':
        return { code: 'server-error', message: 'The group kept changing while this device tried to change it.', action: 'Try again in a moment.' };
      case 'mismatch':
        return { code: 'server-error', message: 'The storage API answered with something other than what was asked.', action: 'Try again; if it keeps happening, check the storage API address in Options.' };
    }
  }
  if (error instanceof LogVerificationError) {
    if (error.reason === 'last-admin') return lastAdmin();
    if (error.reason === 'not-admin') return { code: 'not-admin', message: 'Only an admin of the group can do this.', action: 'Ask one of its admins.' };
    if (error.reason === 'invite-used' || error.reason === 'invite-expired' || error.reason === 'invite-revoked' || error.reason === 'unknown-invite') {
      return { code: 'invite-invalid', message: sentence(error.message), action: ASK_INVITER };
    }
    return {
      code: 'fork',
      message: `The group's history from the storage API cannot be trusted: ${logRejectionWords(error.reason)}.`,
      action: 'Stop using this group and tell its members; the server may be showing you a different history.',
    };
  }
  if (error instanceof DeviceChainError) {
    return {
      code: 'fork',
      message: `A list of devices from the storage API cannot be trusted: ${chainRejectionWords(error.reason)}.`,
      action: 'Do not link or remove devices, or hand keys to that person, for now. Compare safety numbers with them (or check your own device list on another of your devices), and tell whoever runs the storage API.',
    };
  }
  if (error instanceof NoteOpenError) {
    const words = noteFailureWords(error.reason, error.reason !== 'no-key');
    return { code: error.reason === 'no-key' ? 'no-key' : error.reason === 'log-behind' ? 'server-error' : 'verification-failed', ...words };
  }
  if (error instanceof ConclaveError) {
    if (error.is('INVITE_INVALID') || (error.is('ENCODING') && context.typedCode === 'invite')) {
      return { code: 'invite-invalid', message: sentence(error.message), action: 'Check the invite code, or ask the person who invited you to send it again.' };
    }
    if (error.is('RECOVERY_INVALID') || (error.is('ENCODING') && context.typedCode === 'recovery')) {
      return { code: 'recovery-invalid', message: sentence(error.message), action: 'Check the recovery code against your recovery kit and type it again.' };
    }
    if (error.is('KEY_BOX')) return { code: 'no-key', message: 'A key sent to this device did not match the group.', action: 'Wait for another member to hand it over, or ask an admin.' };
  }
  return { code: 'internal', message: 'Something unexpected went wrong in the extension.', action: 'Try again; if it keeps happening, reload the extension.' };
}
