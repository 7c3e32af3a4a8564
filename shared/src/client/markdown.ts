/**
 * A note as a Markdown file, the one rendering every client's export uses (the CLI's
 * `conclave export` writes the files to a directory, the side panel puts them in a zip
 * it downloads): the note's metadata in a YAML front matter block, then its body as
 * written. Plaintext: only ever written on the person's own computer.
 */
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';

/** What a note's file says about it; names are the ones this device knows (empty when none). */
export interface MarkdownNote {
  noteId: NoteId;
  title: string;
  body: string;
  version: number;
  /** The key generation the version is sealed with. */
  generation: number;
  /** When the version was written (ms since the epoch, as signed by its author). */
  at: number;
  groupId: GroupId;
  groupName: string | null;
  /** The author's display name, when known. */
  authorName: string | null;
  /** The person the writing device speaks for (their fingerprint). */
  authorFingerprint: Fingerprint;
  /** The device that signed the version. */
  authorDevice: Fingerprint;
  /** Warnings the reader was shown about this version, in words (a rollback, a late note). */
  warnings: readonly string[];
}

/** Letters, digits and dashes from any text (accents dropped, at most 60 characters); empty when none is left. */
export function fileSlug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
}

/**
 * A file name from a title: its slug, then the start of the note's id, so two notes
 * with the same title never share a file.
 */
export function noteFileName(title: string, noteId: NoteId | string): string {
  return `${fileSlug(title) || 'note'}--${noteId.slice(0, 8)}.md`;
}

/** A YAML scalar that reads back as the same string (JSON strings are YAML). */
function yamlString(text: string): string {
  return JSON.stringify(text);
}

/** The Markdown file of one note: front matter, a blank line, the body, a final newline. */
export function noteMarkdown(note: MarkdownNote): string {
  const front = [
    '---',
    `title: ${yamlString(note.title)}`,
    `note_id: ${note.noteId}`,
    `version: ${note.version}`,
    `group: ${yamlString(note.groupName ?? '')}`,
    `group_id: ${note.groupId}`,
    `author: ${yamlString(note.authorName ?? '')}`,
    `author_fingerprint: ${note.authorFingerprint}`,
    `author_device: ${note.authorDevice}`,
    `written_at: ${new Date(note.at).toISOString()}`,
    `key_generation: ${note.generation}`,
    ...(note.warnings.length > 0 ? [`warnings: ${yamlString(note.warnings.join(' / '))}`] : []),
    '---',
    '',
    '',
  ];
  return `${front.join('\n')}${note.body}${note.body.endsWith('\n') ? '' : '\n'}`;
}
