/**
 * The side panel's pure logic: the notes list's order and local search, its words,
 * and who counts as the last member.
 */
import { describe, expect, it } from 'vitest';
import type { Fingerprint, NoteId } from '@conclave/shared/protocol';
import type { ListedNoteView, MemberView } from '../../src/messages/views.ts';
import { copyTitle, editDraftKey, filterNotes, fold, formatWhen, indexNotes, isLastAdmin, isLastMember, notesWord, presence, queryWords, resultCountText, waitingMembers } from '../../src/ui/panel/logic.ts';
import { selectedFromDraft } from '../../src/ui/panel/PanelApp.tsx';
import { saveRequest } from '../../src/ui/panel/NoteEditor.tsx';

const fp = (c: string) => c.repeat(52) as Fingerprint;
const id = (n: number) => `note${String(n).padStart(18, '0')}` as NoteId;

function ok(n: number, title: string, at: number, deleted = false): ListedNoteView {
  return { ok: true, noteId: id(n), version: 1, title, author: fp('a'), authorName: 'Ana', authorTrust: 'verified', at, deleted };
}
function failed(n: number): ListedNoteView {
  return { ok: false, noteId: id(n), version: 1, author: fp('b'), authorName: 'Bo', reason: 'no-key', message: 'This note was written with a key this device does not have.', action: 'Ask an admin to hand over the key.' };
}
function member(over: Partial<MemberView>): MemberView {
  return { fingerprint: fp('c'), short: 'cccc cccc cccc cccc', name: 'Cy', role: 'member', trust: 'unverified', online: false, isMe: false, isRecovery: false, waitingForKey: false, devices: 1, ...over };
}

describe('notes list order', () => {
  it('puts unreadable notes first, drops deleted ones, and sorts the rest newest first', () => {
    const listed = indexNotes([ok(1, 'old', 10), failed(2), ok(3, 'new', 30), ok(4, 'gone', 40, true), ok(5, 'middle', 20)]);
    expect(listed.map((e) => e.note.noteId)).toEqual([id(2), id(3), id(5), id(1)]);
  });
});

describe('local title search', () => {
  const listed = indexNotes([ok(1, 'Café menu', 3), ok(2, 'Budget 2025', 2), ok(3, 'menu for the party', 1), failed(4)]);

  it('ignores case and accents', () => {
    expect(fold('Café ÉTÉ')).toBe('cafe ete');
    expect(filterNotes(listed, 'CAFE').map((e) => e.note.noteId)).toEqual([id(1)]);
  });

  it('needs every word, in any order', () => {
    expect(queryWords('  party   Menu ')).toEqual(['party', 'menu']);
    expect(filterNotes(listed, 'party menu').map((e) => e.note.noteId)).toEqual([id(3)]);
    expect(filterNotes(listed, 'menu').map((e) => e.note.noteId)).toEqual([id(1), id(3)]);
  });

  it('shows everything (unreadable notes too) for an empty query, and never matches an unreadable note', () => {
    expect(filterNotes(listed, '   ')).toHaveLength(4);
    expect(filterNotes(listed, 'key')).toHaveLength(0);
  });

  it('stays fast at 10,000 notes', () => {
    const many = indexNotes(Array.from({ length: 10_000 }, (_, i) => ok(i, `Note number ${i} about things`, i)));
    const start = performance.now();
    for (const q of ['n', 'no', 'not', 'note', 'note 99', 'note 999']) filterNotes(many, q);
    expect(filterNotes(many, 'number 9999')).toHaveLength(1);
    expect(performance.now() - start).toBeLessThan(500);
  });
});

describe('words', () => {
  it('counts notes and search results', () => {
    expect(notesWord(1)).toBe('1 note');
    expect(notesWord(10_000)).toBe('10,000 notes');
    expect(resultCountText(3, 10_000, '')).toBe('10,000 notes');
    expect(resultCountText(0, 12, ' menu ')).toBe('No notes match “menu”');
    expect(resultCountText(1, 12, 'menu')).toBe('1 note of 12 match “menu”');
  });

  it('says presence with an icon and a word', () => {
    expect(presence(true)).toEqual({ icon: '●', word: 'Online' });
    expect(presence(false)).toEqual({ icon: '○', word: 'Offline' });
  });

  it('shows today as a time, older notes as a date', () => {
    const now = new Date(2025, 2, 14, 18, 0).getTime();
    expect(formatWhen(new Date(2025, 2, 14, 9, 5).getTime(), now, 'en-GB')).toBe('09:05');
    expect(formatWhen(new Date(2024, 0, 3).getTime(), now, 'en-GB')).toBe('3 Jan 2024');
  });

  it('names the copy of my version after a conflict once', () => {
    expect(copyTitle('Plan')).toBe('Plan (my copy)');
    expect(copyTitle('Plan (my copy)')).toBe('Plan (my copy)');
    expect(copyTitle('  ')).toBe('Untitled (my copy)');
    expect(copyTitle('x'.repeat(600))).toHaveLength(500);
  });
});

describe('members', () => {
  const me = member({ fingerprint: fp('m'), name: 'Me', isMe: true, role: 'admin' });
  const recovery = member({ fingerprint: fp('r'), name: 'Recovery', isRecovery: true, role: 'admin' });

  it('the recovery recipient does not count as a person left in the group', () => {
    expect(isLastMember([me, recovery])).toBe(true);
    expect(isLastMember([me, recovery, member({})])).toBe(false);
  });

  it('knows the last admin', () => {
    expect(isLastAdmin([me, recovery, member({})])).toBe(true);
    expect(isLastAdmin([me, member({ role: 'admin' })])).toBe(false);
  });

  it('lists who waits for the key, never me', () => {
    expect(waitingMembers([{ ...me, waitingForKey: true }, member({ waitingForKey: true }), member({ fingerprint: fp('d') })]).map((m) => m.name)).toEqual(['Cy']);
  });
});

describe('panel plumbing', () => {
  it('reads the selected group from either draft shape', () => {
    expect(selectedFromDraft('g1')).toBe('g1');
    expect(selectedFromDraft({ groupId: 'g2' })).toBe('g2');
    expect(selectedFromDraft(null)).toBeNull();
    expect(selectedFromDraft('')).toBeNull();
    expect(selectedFromDraft(42)).toBeNull();
  });

  it('keys edit drafts per group and note', () => {
    expect(editDraftKey('g', null)).toBe('panel.edit.g.new');
    expect(editDraftKey('g', 'n')).toBe('panel.edit.g.n');
  });

  it('sends a new note without a version, and an edit with the version it started from', () => {
    const g = 'g'.repeat(22) as never;
    expect(saveRequest(g, null, null, 't', 'b')).toEqual({ type: 'notes.save', groupId: g, title: 't', body: 'b' });
    expect(saveRequest(g, id(1), 3, 't', 'b')).toEqual({ type: 'notes.save', groupId: g, noteId: id(1), baseVersion: 3, title: 't', body: 'b' });
    expect(Object.keys(saveRequest(g, id(1), null, 't', 'b'))).not.toContain('baseVersion');
  });
});
