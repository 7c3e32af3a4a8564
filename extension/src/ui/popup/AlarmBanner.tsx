/**
 * The red banner for a group whose history was found forked or rolled back: names
 * the group, says what was found and what to do. Icon and words, not colour alone.
 * A peer alarm (a member's signed head) names the member and offers its remedies:
 * dismiss after checking with them, or (admins) remove them.
 */
import type { GroupSummary } from '../../messages/views.ts';
import { PeerAlarmActions } from '../panel/PeerAlarmActions.tsx';

export function AlarmBanner({ group, onOpen }: { group: GroupSummary; onOpen: () => void }) {
  const name = group.name ?? 'a group you joined';
  if (group.peerAlarm)
    return (
      <div class="notice notice-alarm" role="alert">
        <p class="notice-title">
          <span aria-hidden="true">⚠</span> “{name}”: {group.peerAlarm.name}’s device and the server disagree
        </p>
        <p>{group.alarm}</p>
        <PeerAlarmActions group={group} />
        <button type="button" onClick={onOpen}>
          Open “{name}” for details
        </button>
      </div>
    );
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
