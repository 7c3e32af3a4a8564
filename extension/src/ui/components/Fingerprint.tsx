/**
 * A device fingerprint's short form (DESIGN §3), shown in monospace groups of four,
 * with an accessible name that spells it one character at a time ("a b c d, e f g h")
 * so a screen reader never reads it as a word.
 */

/** Splits a fingerprint (spaced or not) into groups of `size` characters. */
export function fingerprintGroups(value: string, size = 4): string[] {
  const compact = value.replace(/\s+/g, '');
  const groups: string[] = [];
  for (let i = 0; i < compact.length; i += size) groups.push(compact.slice(i, i + size));
  return groups;
}

/** "abcd efgh" → "a b c d, e f g h": one character at a time, a pause between groups. */
export function spellGroups(groups: readonly string[]): string {
  return groups.map((group) => [...group].join(' ')).join(', ');
}

export interface FingerprintProps {
  /** The short form (e.g. `MemberView.short`), spaced or not. */
  value: string;
  /** Words before the spelled value in the accessible name; default "Fingerprint". */
  label?: string;
}

export function Fingerprint({ value, label = 'Fingerprint' }: FingerprintProps) {
  const groups = fingerprintGroups(value);
  return (
    <span class="fingerprint code" role="img" aria-label={`${label}: ${spellGroups(groups)}`}>
      {groups.map((group, i) => (
        <span key={i} class="fingerprint-group" aria-hidden="true">
          {group}
        </span>
      ))}
    </span>
  );
}
