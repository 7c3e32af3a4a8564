/**
 * A secret code shown large, in monospace groups, with an accessible name that
 * spells it character by character.
 */
import { codeGroups, spellOut } from './format.ts';

export interface CodeProps {
  code: string;
  label: string;
  large?: boolean;
}

export function Code({ code, label, large = false }: CodeProps) {
  const groups = codeGroups(code);
  return (
    <p class={large ? 'code-large' : 'code'} role="img" aria-label={`${label}: ${spellOut(code)}`}>
      {groups.map((group, i) => (
        <span key={i} aria-hidden="true">
          {i > 0 && (
            <>
              -<wbr />
            </>
          )}
          {group}
        </span>
      ))}
    </p>
  );
}
