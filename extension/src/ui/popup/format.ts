/** Small wording helpers for the popup: names in lists, counts, codes read aloud. */
import type { GroupSummary } from '../../messages/views.ts';

/** "Ana", "Ana or Ben", "Ana, Ben or Cy", "Ana, Ben, Cy or 2 others". */
export function orList(names: readonly string[], max = 3): string {
  if (names.length === 0) return '';
  if (names.length === 1) return names[0]!;
  if (names.length > max) return `${names.slice(0, max).join(', ')} or ${plural(names.length - max, 'other')}`;
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]!}`;
}

/** "1 note", "2 notes". */
export function plural(count: number, word: string, many = `${word}s`): string {
  return `${count} ${count === 1 ? word : many}`;
}

/** Splits a code into groups (dashes and spaces are separators). */
export function codeGroups(code: string, size = 4): string[] {
  const parts = code.trim().split(/[\s-]+/).filter(Boolean);
  if (parts.length > 1) return parts;
  return code.match(new RegExp(`.{1,${size}}`, 'g')) ?? [];
}

/**
 * A code as a screen reader should read it: one character at a time, groups
 * separated by a pause ("A B C D, 1 2 3 4"). Letters are upper-cased so they are
 * read as letters, not words.
 */
export function spellOut(code: string): string {
  return codeGroups(code)
    .map((group) => group.toUpperCase().split('').join(' '))
    .join(', ');
}

/** "in 1 hour", "in 3 days", "expired": a time left, roughly. */
export function timeLeft(until: number, now = Date.now()): string {
  const ms = until - now;
  if (ms <= 0) return 'expired';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `in ${plural(Math.max(1, minutes), 'minute')}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `in ${plural(hours, 'hour')}`;
  return `in ${plural(Math.round(hours / 24), 'day')}`;
}

/** The group's counts as words: "3 unread notes · 1 person waiting for the key". */
export function groupCounts(group: GroupSummary): string {
  const parts: string[] = [];
  if (group.unread > 0) parts.push(plural(group.unread, 'unread note'));
  if (group.pending > 0 && group.role === 'admin') parts.push(`${plural(group.pending, 'person', 'people')} waiting for the key`);
  if (parts.length === 0 && group.hasKey) parts.push('No new notes');
  return parts.join(' · ');
}

