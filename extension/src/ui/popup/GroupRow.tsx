/** One group on the home screen: its name, my role, counts in words, and what I can do with it. */
import type { GroupSummary } from '../../messages/views.ts';
import { groupCounts } from './format.ts';
import { KeyWait } from './KeyWait.tsx';

export interface GroupRowProps {
  group: GroupSummary;
  onOpen: () => void;
  onInvite: () => void;
}

export function GroupRow({ group, onOpen, onInvite }: GroupRowProps) {
  const name = group.name ?? 'A group you are joining';
  const counts = groupCounts(group);
  return (
    <li class="group-row">
      <div class="group-head">
        <h3 class="group-name">{name}</h3>
        {group.role && <span class="badge">{group.role === 'admin' ? 'Admin' : 'Member'}</span>}
      </div>
      {group.alarm && (
        <p class="group-alarm">
          <span aria-hidden="true">⚠</span> Warning: see the message above.
        </p>
      )}
      {group.removed && (
        <p class="muted">{group.deviceUnlinked ? 'This device was removed from your identity (by another of your devices): it no longer reads this group.' : 'You are no longer a member of this group.'}</p>
      )}
      {counts && <p class="group-counts">{counts}</p>}
      {group.keyWait && !group.hasKey && <KeyWait wait={group.keyWait} compact />}
      {group.recoveryUnconfirmed && (
        <p class="group-warn">
          <span aria-hidden="true">!</span> Its recovery code is not saved yet.
        </p>
      )}
      <div class="row">
        {group.hasKey && !group.removed && (
          <button type="button" onClick={onOpen} aria-label={`Open notes of ${name}`}>
            Open notes
          </button>
        )}
        {group.hasKey && group.role === 'admin' && !group.removed && (
          <button type="button" onClick={onInvite} aria-label={`Invite to ${name}`}>
            Invite
          </button>
        )}
      </div>
    </li>
  );
}
