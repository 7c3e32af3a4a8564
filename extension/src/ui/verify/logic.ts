/**
 * The verification tab's pure logic: reading its address, and grouping a typed safety
 * number as it is typed. No DOM — tested in extension/test/ui/panel-verify.test.ts.
 */
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';

/** 12 groups of 5 digits (DESIGN §3). */
export const SAFETY_GROUPS = 12;
export const GROUP_DIGITS = 5;
export const SAFETY_DIGITS = SAFETY_GROUPS * GROUP_DIGITS;

// The same shapes as shared/src/protocol/ids.ts, checked here without pulling zod into the page.
const FINGERPRINT = /^[a-z2-7]{52}$/;
const GROUP_ID = /^[A-Za-z0-9_-]{22}$/;

/** `?group=…&member=…` → the ids, or null when either is missing or malformed. */
export function parseVerifyParams(search: string): { groupId: GroupId; fingerprint: Fingerprint } | null {
  const params = new URLSearchParams(search);
  const groupId = params.get('group') ?? '';
  const fingerprint = params.get('member') ?? '';
  if (!GROUP_ID.test(groupId) || !FINGERPRINT.test(fingerprint)) return null;
  return { groupId: groupId as GroupId, fingerprint: fingerprint as Fingerprint };
}

/** The digits of what was typed or pasted (spaces, dashes and anything else dropped), at most 60. */
export function typedDigits(raw: string): string {
  return raw.replace(/\D+/g, '').slice(0, SAFETY_DIGITS);
}

/** "1234567890" → "12345 67890": groups of five, as the number is shown. */
export function groupDigits(digits: string): string {
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += GROUP_DIGITS) groups.push(digits.slice(i, i + GROUP_DIGITS));
  return groups.join(' ');
}

/** Where the caret goes in `formatted` so that `digitsBefore` digits are before it. */
export function caretAfterDigits(formatted: string, digitsBefore: number): number {
  if (digitsBefore <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < formatted.length; i++) {
    if (/\d/.test(formatted[i]!)) seen++;
    if (seen === digitsBefore) return i + 1;
  }
  return formatted.length;
}

/**
 * Reformats an input's value as typed, keeping the caret after the same digit.
 * @returns the new value and caret position.
 */
export function reformatTyped(raw: string, caret: number): { value: string; caret: number } {
  const value = groupDigits(typedDigits(raw));
  const before = Math.min(typedDigits(raw.slice(0, caret)).length, SAFETY_DIGITS);
  return { value, caret: caretAfterDigits(value, before) };
}

/** The first group (1-based) where a typed number differs from the shown one; null if none. */
export function firstDifferentGroup(typed: string, shown: readonly string[]): number | null {
  const digits = typedDigits(typed);
  for (let g = 0; g < shown.length; g++) {
    const part = digits.slice(g * GROUP_DIGITS, (g + 1) * GROUP_DIGITS);
    if (part !== shown[g]) return g + 1;
  }
  return null;
}
