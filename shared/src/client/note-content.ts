/**
 * What a note is saved with, the same from the extension and the CLI: a title left
 * empty takes the text's first line (so the note is still told apart in a list), and a
 * note with neither title nor text is not saved at all.
 */

/** Longest title taken from a note's first line when its title is left empty. */
export const FIRST_LINE_TITLE_MAX = 80;

/** True when a note has neither a title nor any text (white space does not count). */
export function isEmptyNote(title: string, body: string): boolean {
  return !title.trim() && !body.trim();
}

/**
 * The title a note is saved with: the one typed, else the first line of its text
 * (shortened to FIRST_LINE_TITLE_MAX characters, on a word when it can). '' only when both are empty.
 */
export function titleToSave(title: string, body: string): string {
  if (title.trim()) return title;
  const line = body.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  if (line.length <= FIRST_LINE_TITLE_MAX) return line;
  const cut = line.slice(0, FIRST_LINE_TITLE_MAX - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > FIRST_LINE_TITLE_MAX / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
