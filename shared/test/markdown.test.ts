/**
 * The Markdown rendering of a note that the CLI's `conclave export` and the side panel's
 * zip both use (client/markdown.ts): front matter that reads back as what was written,
 * the body as written, and file names that never collide.
 */
import { describe, expect, it } from 'vitest';
import { noteFileName, noteMarkdown, type MarkdownNote } from '../src/client/index.ts';

const note: MarkdownNote = {
  noteId: 'AbCdEfGh12345678901234' as never,
  title: 'Tides: "spring" & neap',
  body: 'High water at 06:12.\n\n- bring the log book',
  version: 3,
  generation: 2,
  at: Date.UTC(2026, 10, 29, 14, 0, 35, 996),
  groupId: 'g'.repeat(22) as never,
  groupName: 'Harbour Watch',
  authorName: 'Ana',
  authorFingerprint: 'p'.repeat(52) as never,
  authorDevice: 'd'.repeat(52) as never,
  warnings: [],
};

describe('a note as a Markdown file', () => {
  it('has its metadata in front matter, then the body with one final newline', () => {
    expect(noteMarkdown(note)).toBe(
      [
        '---',
        'title: "Tides: \\"spring\\" & neap"',
        'note_id: AbCdEfGh12345678901234',
        'version: 3',
        'group: "Harbour Watch"',
        `group_id: ${'g'.repeat(22)}`,
        'author: "Ana"',
        `author_fingerprint: ${'p'.repeat(52)}`,
        `author_device: ${'d'.repeat(52)}`,
        'written_at: 2026-11-29T14:00:35.996Z',
        'key_generation: 2',
        '---',
        '',
        'High water at 06:12.',
        '',
        '- bring the log book',
        '',
      ].join('\n'),
    );
    expect(noteMarkdown({ ...note, body: 'ends with a newline\n' }).endsWith('ends with a newline\n')).toBe(true);
  });

  it('lists the warnings the reader was shown, and empty names as empty strings', () => {
    const text = noteMarkdown({ ...note, groupName: null, authorName: null, warnings: ['shown at an older version', 'late'] });
    expect(text).toContain('\ngroup: ""\n');
    expect(text).toContain('\nauthor: ""\n');
    expect(text).toContain('\nwarnings: "shown at an older version / late"\n---\n');
    expect(noteMarkdown(note)).not.toContain('warnings:');
  });

  it('names files by title and id start: accents dropped, unsafe characters gone, equal titles apart', () => {
    expect(noteFileName('Crème brûlée / Übung #2', 'AbCdEfGh1234')).toBe('creme-brulee-ubung-2--AbCdEfGh.md');
    expect(noteFileName('../../etc/passwd', 'x1234567zz')).toBe('etc-passwd--x1234567.md');
    expect(noteFileName('   ', 'AbCdEfGh1234')).toBe('note--AbCdEfGh.md');
    expect(noteFileName('Same', 'aaaaaaaa1')).not.toBe(noteFileName('Same', 'bbbbbbbb1'));
    expect(noteFileName('x'.repeat(200), 'AbCdEfGh').length).toBe(60 + '--AbCdEfGh.md'.length);
  });
});
