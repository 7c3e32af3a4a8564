/**
 * What this device noticed about how the server served a note (a rollback, a late
 * note by someone who has left), in the background's words: what happened, and what
 * to do next. An icon and words, never colour alone.
 */
import type { NoteFlagView } from '../../messages/views.ts';

const TITLES: Record<NoteFlagView['code'], string> = {
  'rolled-back': 'The server showed an older version',
  'late-from-departed': 'Written by someone who has left',
};

export function NoteFlags({ flags, compact }: { flags: NoteFlagView[] | undefined; compact?: boolean }) {
  if (!flags || flags.length === 0) return null;
  return (
    <>
      {flags.map((flag) => (
        <div key={flag.code} class="notice notice-warn note-flag" role="note" data-flag={flag.code}>
          <p class="notice-title">
            <span aria-hidden="true" class="notice-icon">
              ⚠
            </span>{' '}
            {TITLES[flag.code]}
          </p>
          <p>{flag.message}</p>
          {!compact && (
            <p>
              <strong>What to do: </strong>
              {flag.action}
            </p>
          )}
        </div>
      ))}
    </>
  );
}
