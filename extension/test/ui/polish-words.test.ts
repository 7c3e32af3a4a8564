/**
 * Words and formats a person reads (issue 14, friction 12): "a recovery code" (not "an
 * recovery code"), one way to write a time in the notes list and in a note, and an
 * invite link that shows the inviter's name with its spaces (not "%20").
 */
import { describe, expect, it } from 'vitest';
import { parseSecretCode } from '@conclave/shared/crypto';
import { inviteLink, parseInviteText } from '@conclave/shared/client';
import { formatFull, formatWhen } from '../../src/ui/panel/logic.ts';

const message = (kind: 'invite' | 'recovery', text: string) => {
  try {
    parseSecretCode(kind, text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('parsed');
};

describe('codes', () => {
  it('say "a recovery code" and "an invite code"', () => {
    expect(message('recovery', 'XYZ')).toBe('a recovery code starts with REC1-');
    expect(message('invite', 'XYZ')).toBe('an invite code starts with INV1-');
    expect(message('recovery', 'REC1-AAAA-!AAA')).toMatch(/cannot be in a recovery code/);
    expect(message('invite', 'INV1-AAAA-!AAA')).toMatch(/cannot be in an invite code/);
  });
});

describe('times', () => {
  it('a time today is written as in the note itself: "9:59 AM", not "09:59 AM"', () => {
    const at = new Date(2026, 2, 3, 9, 59).getTime();
    const now = new Date(2026, 2, 3, 18, 0).getTime();
    expect(formatWhen(at, now, 'en-US')).toBe('9:59 AM');
    expect(formatFull(at, 'en-US')).toContain('9:59 AM');
    // This week: weekday and the same time.
    expect(formatWhen(at, new Date(2026, 2, 5, 8, 0).getTime(), 'en-US')).toBe('Tue 9:59 AM');
    // A 24-hour locale keeps its own way.
    expect(formatWhen(at, now, 'en-GB')).toBe(formatFull(at, 'en-GB').split(' at ').pop());
  });
});

describe('invite links', () => {
  it('show the inviter’s name readably: spaces as "+", letters as they are; the joiner reads it back', () => {
    const link = inviteLink('INV1-ABCD-EFGH', 'Ana Pérez & co');
    expect(link).toBe('conclave:join/INV1-ABCD-EFGH?from=Ana+Pérez+%26+co');
    expect(link).not.toMatch(/%20/);
    expect(parseInviteText(link)).toEqual({ code: 'INV1-ABCD-EFGH', inviterName: 'Ana Pérez & co' });
    // One word on a chat line: nothing in it ends the link early.
    expect(link).not.toMatch(/\s/);
    expect(parseInviteText(inviteLink('INV1-ABCD-EFGH', 'Bo+Cy #1 50%'))).toEqual({ code: 'INV1-ABCD-EFGH', inviterName: 'Bo+Cy #1 50%' });
  });
});
