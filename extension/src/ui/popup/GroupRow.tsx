/**
 * One group on the home screen: its name, my role, counts in words, and what I can do
 * with it. A group that removed this device can still be read (what the device kept,
 * read-only) and removed from this device, after a confirmation in the row itself.
 */
import { useRef, useState } from 'preact/hooks';
import type { GroupSummary } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import { groupCounts } from './format.ts';
import { KeyWait } from './KeyWait.tsx';
import { KeyWaitActions } from './KeyWaitActions.tsx';

export interface GroupRowProps {
  group: GroupSummary;
  onOpen: () => void;
  onInvite: () => void;
}

export function GroupRow({ group, onOpen, onInvite }: GroupRowProps) {
  const name = group.name ?? 'A group you are joining';
  const counts = groupCounts(group);
  const forget = useAction();
  const [confirming, setConfirming] = useState(false);
  const confirmRef = useRef<HTMLParagraphElement>(null);
  const askForget = () => {
    setConfirming(true);
    // Focus the question, so a keyboard or screen reader user hears what it asks.
    queueMicrotask(() => confirmRef.current?.focus());
  };
  const doForget = async () => {
    const result = await forget.run({ type: 'group.leave', groupId: group.groupId });
    if (result.ok) announce(`“${name}” was removed from this device.`);
    setConfirming(false);
  };
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
      <KeyWaitActions group={group} named />
      {group.recoveryUnconfirmed && (
        <p class="group-warn">
          <span aria-hidden="true">!</span> Its recovery code is not saved yet.
        </p>
      )}
      {group.removed && confirming && (
        <div class="notice notice-warn">
          <p ref={confirmRef} tabIndex={-1}>
            Remove “{name}” from this device? The notes it kept of the group are deleted from it; nobody else is affected.
          </p>
          <ErrorNotice error={forget.error} title="That did not work" onDismiss={() => forget.setError(null)} />
          <div class="row">
            <button type="button" class="danger" disabled={forget.pending} onClick={() => void doForget()}>
              Remove it from this device
            </button>
            <button type="button" disabled={forget.pending} onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </div>
        </div>
      )}
      <div class="row">
        {group.removed && (
          <button type="button" onClick={onOpen} aria-label={`Read what you kept of ${name}`}>
            Read what you kept
          </button>
        )}
        {group.removed && !confirming && (
          <button type="button" onClick={askForget}>
            Remove “{name}” from this device…
          </button>
        )}
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
