/**
 * The side panel's pure logic: ordering and searching the notes list, the words for
 * counts, times and presence, and who counts as "the last member". No DOM, no
 * requests — tested in extension/test/ui/panel-logic.test.ts.
 */
import type { ListedNoteView, MemberView } from '../../messages/views.ts';

/** Rows rendered at first, and added by each "Show more": keeps the first paint fast at 10,000 notes. */
export const PAGE_SIZE = 200;

/** Case- and accent-insensitive form of a text, for matching ("Café" ~ "cafe"). */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}

export interface IndexedNote {
  note: ListedNoteView;
  /** The folded title ('' for a note that cannot be read). */
  key: string;
}

/**
 * The list as shown: deleted notes dropped; notes that cannot be read first (they need
 * the person's attention, and say why), then the rest newest first. Titles folded once
 * here, so each keystroke of a search only compares strings.
 */
export function indexNotes(notes: readonly ListedNoteView[]): IndexedNote[] {
  const failed: IndexedNote[] = [];
  const readable: Array<IndexedNote & { at: number }> = [];
  for (const note of notes) {
    if (!note.ok) failed.push({ note, key: '' });
    else if (!note.deleted) readable.push({ note, key: fold(note.title), at: note.at });
  }
  readable.sort((a, b) => b.at - a.at);
  return [...failed, ...readable];
}

/** Splits a query into folded words; every word must appear in the title (any order). */
export function queryWords(query: string): string[] {
  return fold(query).split(/\s+/).filter(Boolean);
}

/** The indexed notes whose titles contain every word of `query`; all of them for an empty query. */
export function filterNotes(indexed: readonly IndexedNote[], query: string): IndexedNote[] {
  const words = queryWords(query);
  if (words.length === 0) return indexed as IndexedNote[];
  return indexed.filter((entry) => entry.note.ok && words.every((word) => entry.key.includes(word)));
}

const count = (n: number) => n.toLocaleString('en-US');

/** "1 note", "10,000 notes". */
export function notesWord(n: number): string {
  return `${count(n)} ${n === 1 ? 'note' : 'notes'}`;
}

/** What the search result count says (shown, and announced when it settles). */
export function resultCountText(shown: number, total: number, query: string): string {
  const q = query.trim();
  if (!q) return notesWord(total);
  if (shown === 0) return `No notes match “${q}”`;
  return `${notesWord(shown)} of ${count(total)} match “${q}”`;
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** Intl formatters are slow to build and a list draws hundreds of times: keep one per style. */
function formatter(locale: string | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let format = formats.get(key);
  if (!format) formats.set(key, (format = new Intl.DateTimeFormat(locale, options)));
  return format;
}

/**
 * A note's time as shown in the list: today "14:05", this week "Mon 14:05", else "3 Mar 2025".
 * Hours as the locale writes them ("9:59 AM", not "09:59 AM"), the same as `formatFull` in the note.
 */
export function formatWhen(at: number, now: number = Date.now(), locale?: string): string {
  const date = new Date(at);
  const today = new Date(now);
  const sameDay = date.toDateString() === today.toDateString();
  // The time as `formatFull` writes it in the note (timeStyle short): "9:59 AM" there and here.
  const time = formatter(locale, { timeStyle: 'short' }).format(date);
  if (sameDay) return time;
  const ageMs = now - at;
  if (ageMs >= 0 && ageMs < 6 * 86_400_000) return `${formatter(locale, { weekday: 'short' }).format(date)} ${time}`;
  return formatter(locale, { day: 'numeric', month: 'short', year: 'numeric' }).format(date);
}

/** Full date and time, for the title attribute and screen readers. */
export function formatFull(at: number, locale?: string): string {
  return formatter(locale, { dateStyle: 'full', timeStyle: 'short' }).format(new Date(at));
}

/** Presence in words and an icon (never colour alone). */
export function presence(online: boolean): { icon: string; word: string } {
  return online ? { icon: '●', word: 'Online' } : { icon: '○', word: 'Offline' };
}

/** True when no other person is left in the group: the recovery recipient is not a person. */
export function isLastMember(members: readonly MemberView[]): boolean {
  return !members.some((m) => !m.isMe && !m.isRecovery);
}

/** True when I am the only admin among the people (the recovery recipient aside). */
export function isLastAdmin(members: readonly MemberView[]): boolean {
  const me = members.find((m) => m.isMe);
  return me?.role === 'admin' && !members.some((m) => !m.isMe && !m.isRecovery && m.role === 'admin');
}

/** Members waiting in the mailbox for the group key (admins hand it over). */
export function waitingMembers(members: readonly MemberView[]): MemberView[] {
  return members.filter((m) => m.waitingForKey && !m.isMe);
}

/** A title for the copy of my version saved as a new note after a conflict. */
export function copyTitle(title: string): string {
  const base = title.trim() || 'Untitled';
  const suffix = ' (my copy)';
  return base.endsWith(suffix) ? base : `${base}${suffix}`.slice(0, 500);
}

/** The draft key of a note being written: one per group and note ("new" for a note not yet saved). */
export function editDraftKey(groupId: string, noteId: string | null): string {
  return `panel.edit.${groupId}.${noteId ?? 'new'}`;
}

/** A group's name, or words for a group whose name cannot be read yet. */
export function groupName(group: { name: string | null }): string {
  return group.name ?? 'Unnamed group (waiting for its key)';
}
