/**
 * The red banner for a group whose history was found forked or rolled back: names
 * the group, says what was found and what to do. Icon and words, not colour alone.
 */
import type { GroupSummary } from '../../messages/views.ts';

export function AlarmBanner({ group, onOpen }: { group: GroupSummary; onOpen: () => void }) {
  const name = group.name ?? 'a group you joined';
  return (
    <div class="notice notice-alarm" role="alert">
      <p class="notice-title">
        <span aria-hidden="true">⚠</span> Danger in “{name}”
      </p>
      <p>{group.alarm}</p>
      <p>
        <strong>What to do: </strong>
        do not trust new notes or new members in this group for now. Compare safety numbers with the other members in person or on a call, and tell
        the group's admins.
      </p>
      <button type="button" onClick={onOpen}>
        Open “{name}” for details
      </button>
    </div>
  );
}
