/**
 * The words of the admin's remedies, shared by the popup and the side panel: what
 * "Rotate the key now" and "Replace the recovery code" do, and what the key-health and
 * recovery-use warnings say. Plain words: what happened, and what to do next.
 */
import type { KeyHealthView, RecoveryUseView } from '../../messages/views.ts';

/** "Tuesday, 3 March 2026 at 14:05" (the person's own locale). */
export function longDate(at: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short' }).format(new Date(at));
}

export function recoveryUsedTitle(use: RecoveryUseView, locale?: string): string {
  const who = use.isMe ? 'this device' : `a device (${use.deviceName})`;
  return `The recovery code added ${who} as admin on ${longDate(use.at, locale)}`;
}

export function recoveryUsedExplain(use: RecoveryUseView): string {
  const more = use.count > 1 ? ` It has been used ${use.count} times.` : '';
  return `Whoever has that recovery code can add more devices as admin at any time.${more} If nobody in the group expected this, or the code may have been seen by someone else, replace it: the old code stops working at once.`;
}

export const ROTATE_WORDS = {
  title: 'Start a new group key now?',
  body: [
    'This device makes a new key for the group and hands it to every member. Notes written from now on use the new key.',
    'People who left or were removed, and anyone who copied the old key, cannot read new notes. Notes already written stay readable as before.',
  ],
  confirm: 'Rotate the key now',
  progress: 'Starting a new key and sealing it to every member…',
} as const;

export const REPAIR_WORDS = {
  title: 'Repair the group key?',
  body: [
    'This device starts a new key that continues from the newest key that works, and hands it to every member, so the group goes on.',
    'Notes written with the broken key may stay unreadable. Ask the person whose device made it to check that device.',
  ],
  confirm: 'Repair the key',
  progress: 'Repairing: starting a new key from the newest one that works…',
} as const;

export const REPLACE_WORDS = {
  title: 'Replace the recovery code?',
  body: [
    'A new recovery code is made and shown to you once, with a new recovery kit to download. Save it somewhere safe before you go on.',
    'The old recovery code stops working at once: whoever has it can no longer restore the group or add a device. A new group key is started too.',
  ],
  confirm: 'Replace the recovery code',
  progress: 'Making a new recovery code and a new key…',
} as const;

export function owedRotationText(owed: NonNullable<KeyHealthView['owedRotation']>): string {
  return `The key has not been rotated since ${owed.name} left (${longDate(owed.at)}).`;
}

export function faultText(fault: KeyHealthView['faults'][number]): string {
  const maker = fault.authorName === 'this device' || fault.authorName === 'an unknown device' ? fault.authorName : `${fault.authorName}’s device`;
  return `The key made by ${maker} on ${longDate(fault.at)} is broken: ${fault.reason}.`;
}

/** After a rotation or repair: what happened, and who still waits for the new key. */
export function rotatedText(unreachable: number): string[] {
  const lines = ['A new key was started. Every member gets it from this device; notes written from now on use it.'];
  if (unreachable > 0) {
    lines.push(
      `The new key could not yet be sealed to ${unreachable} ${unreachable === 1 ? 'member' : 'members'}; they will get it when the group next syncs with them.`,
    );
  }
  return lines;
}
