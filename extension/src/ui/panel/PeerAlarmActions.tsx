/**
 * What the person can do about a peer alarm (GroupSummary.peerAlarm): a member's device
 * signed a head of the group log that is ahead of, or contradicts, this device's. Either
 * the server is holding changes back, or that member's device is wrong — a member can
 * sign a made-up head to freeze others. So, after checking with that member:
 * - anyone can dismiss it ("I checked with <name>: dismiss"; `group.dismissPeerEvidence`),
 *   behind a confirmation that says what dismissing means;
 * - an admin can remove that member (`group.remove`, the members list's own request and
 *   confirmation), which that member's own evidence never blocks.
 * Used in the side panel's banner and the popup's. Both end the alarm, so the banner goes
 * away: the outcome is announced and handed to `onOutcome` for a notice that stays.
 */
import { useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { GroupSummary } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { groupName } from './logic.ts';
import { removedLines, RemoveMemberDialog } from './MembersView.tsx';

/** "What to do", in plain words: ask the member, then decide. */
export function peerAlarmAdvice(name: string, canRemove: boolean): string {
  return (
    `Ask ${name}, in person or on a call, whether their device shows changes to this group that yours does not (for example someone’s removal). ` +
    `If it does, the server is holding changes back from you: do not dismiss this warning, and tell the group’s admins. ` +
    `If it does not, ${name}’s device is wrong: ${canRemove ? `dismiss this warning, or remove ${name} from the group` : 'dismiss this warning, and tell the group’s admins'}.`
  );
}

export interface PeerAlarmActionsProps {
  group: GroupSummary;
  /** Called with what was done (the banner itself goes away once the alarm has cleared). */
  onOutcome?: (lines: string[]) => void;
}

export function PeerAlarmActions({ group, onOutcome }: PeerAlarmActionsProps) {
  const action = useAction();
  const [asking, setAsking] = useState<'dismiss' | 'remove' | null>(null);
  const [removing, setRemoving] = useState(false);
  const [errorTitle, setErrorTitle] = useState('That did not work');
  const alarm = group.peerAlarm;
  if (!alarm) return null;
  const { name } = alarm;
  const groupId = group.groupId as GroupId;
  const where = groupName(group);

  const done = (lines: string[]) => {
    announce(lines.join(' '));
    onOutcome?.(lines);
  };

  const dismiss = async () => {
    setErrorTitle(`The warning about ${name}’s device was not dismissed`);
    const result = await action.run({ type: 'group.dismissPeerEvidence', groupId, peer: alarm.peer });
    setAsking(null);
    if (!result.ok) return announce('The warning was not dismissed.');
    const lines = [`The warning about ${name}’s device was dismissed. This device forgot what it had signed.`];
    lines.push(result.data.alarm ? 'Another warning about this group still stands: read it above.' : 'New notes can be written again.');
    done(lines);
  };

  const remove = async () => {
    setAsking(null);
    setRemoving(true);
    setErrorTitle(`${name} was not removed`);
    announce(`Removing ${name} and starting a new key. This can take a moment.`);
    const result = await action.run({ type: 'group.remove', groupId, fingerprint: alarm.person });
    setRemoving(false);
    if (!result.ok) return announce(`${name} was not removed.`);
    done(removedLines(name, result.data.unreachable));
  };

  return (
    <>
      <p>
        <strong>What to do: </strong>
        {peerAlarmAdvice(name, alarm.canRemove)}
      </p>
      {removing && (
        <div class="notice progress-notice" role="status">
          <p>Removing {name} and starting a new key for everyone else…</p>
          <div class="progress" role="progressbar" aria-label={`Removing ${name}`} aria-valuetext="Working">
            <div class="progress-bar" />
          </div>
        </div>
      )}
      <ErrorNotice error={action.error} title={errorTitle} onDismiss={() => action.setError(null)} />
      <div class="row">
        <button type="button" aria-haspopup="dialog" disabled={action.pending} onClick={() => setAsking('dismiss')}>
          I checked with {name}: dismiss
        </button>
        {alarm.canRemove && (
          <button type="button" class="danger" aria-haspopup="dialog" disabled={action.pending} onClick={() => setAsking('remove')}>
            Remove {name}
          </button>
        )}
      </div>
      <ConfirmDialog
        open={asking === 'dismiss'}
        title={`Dismiss the warning about ${name}’s device?`}
        confirmLabel={action.pending ? 'Dismissing…' : 'Dismiss the warning'}
        busy={action.pending}
        onConfirm={() => void dismiss()}
        onCancel={() => setAsking(null)}
      >
        <p>
          This device forgets what {name}’s device told it about “{where}”, and new notes can be written here again.
        </p>
        <p>
          Do this only if you checked with {name} and their device is the one that is wrong. If the server is really holding changes back from you, this device
          will not warn you again until it next talks with {name}’s device.
        </p>
      </ConfirmDialog>
      {alarm.canRemove && <RemoveMemberDialog open={asking === 'remove'} memberName={name} groupName={where} onConfirm={() => void remove()} onCancel={() => setAsking(null)} />}
    </>
  );
}
