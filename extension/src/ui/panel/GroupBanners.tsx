/**
 * What the person must know about a group before anything else: a forked or
 * rolled-back log (a red alert naming the group), a member's device whose signed head
 * disagrees with this device's (named, with "I checked with <name>: dismiss" and, for
 * admins, "Remove <name>"), having been removed (they keep what they already read,
 * DESIGN §5), or waiting for the group key.
 *
 * The alarm is announced once, by its banner (the one role=alert carrying it): what the
 * background refuses because of it (the group's details, its notes) says so in plain text
 * with AlarmRefusal, pointing at the banner instead of repeating its words as an alert.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ExtensionError } from '../../messages/protocol.ts';
import type { GroupSummary } from '../../messages/views.ts';
import { OutcomeNotice } from '../components/OutcomeNotice.tsx';
import { groupName } from './logic.ts';
import { PeerAlarmActions } from './PeerAlarmActions.tsx';

export const DEVICE_UNLINKED_TEXT = 'Another of your devices removed this one (lost or no longer used), so it no longer reads your groups. It keeps what it already showed. To use it again, link it to your identity again as a new device.';
export const REMOVED_TEXT = 'You were removed from this group. You keep what you already read; new notes are not readable.';

/** True when `error` is the background refusing because of the alarm the group's banner already shows. */
export function isAlarmRefusal(error: ExtensionError | null | undefined, group: Pick<GroupSummary, 'alarm'>): boolean {
  return error?.code === 'fork' && !!group.alarm;
}

/**
 * What could not be loaded because of the group's alarm, in plain text (no live region:
 * the banner above is the one alert carrying the alarm's words and what to do).
 */
export function AlarmRefusal({ title, onRetry }: { title: string; onRetry?: () => void }) {
  return (
    <div class="notice notice-error" data-code="fork">
      <p class="notice-title">
        <span aria-hidden="true" class="notice-icon">
          ⚠
        </span>{' '}
        {title}
      </p>
      <p>Because of the warning above: this group’s history does not add up.</p>
      {onRetry && (
        <div class="row">
          <button type="button" onClick={onRetry}>
            Try again
          </button>
        </div>
      )}
    </div>
  );
}

export function GroupBanners({ group }: { group: GroupSummary }) {
  const name = groupName(group);
  /** What dismissing or removing did: kept here, since the alarm's banner goes away. */
  const [outcome, setOutcome] = useState<string[] | null>(null);
  const outcomeRef = useRef<HTMLDivElement>(null);
  // The buttons went with the banner: focus moves to what happened.
  useEffect(() => {
    if (outcome && !group.peerAlarm) outcomeRef.current?.focus();
  }, [outcome, group.peerAlarm]);
  return (
    <>
      {group.alarm && group.peerAlarm && (
        <div class="notice notice-alarm banner" role="alert">
          <p class="notice-title">
            <span aria-hidden="true">⚠</span> Warning about “{name}”: {group.peerAlarm.name}’s device and the server disagree
          </p>
          <p>{group.alarm}</p>
          <PeerAlarmActions group={group} onOutcome={setOutcome} />
        </div>
      )}
      {outcome && !group.peerAlarm && (
        <OutcomeNotice lines={outcome} onClose={() => setOutcome(null)} closeLabel="Close this message" banner focusRef={outcomeRef} />
      )}
      {group.alarm && !group.peerAlarm && (
        <div class="notice notice-alarm banner" role="alert">
          <p class="notice-title">
            <span aria-hidden="true">⚠</span> Warning about “{name}”: its history does not add up
          </p>
          <p>{group.alarm}</p>
          <p>
            <strong>What to do: </strong>Do not trust new changes to this group’s members. Compare safety numbers with the other members in person or on a call, and tell your admins.
          </p>
        </div>
      )}
      {group.removed && (
        <div class="notice notice-warn banner" role="status">
          <p class="notice-title">
            <span aria-hidden="true">⊘</span> {group.deviceUnlinked ? 'This device was removed from your identity' : `Removed from “${name}”`}
          </p>
          <p>{group.deviceUnlinked ? DEVICE_UNLINKED_TEXT : REMOVED_TEXT}</p>
        </div>
      )}
      {!group.removed && !group.hasKey && (
        <div class="notice notice-warn banner" role="status">
          <p class="notice-title">
            <span aria-hidden="true">◔</span> Waiting for the group’s key
          </p>
          <p>
            This device cannot read the notes yet. The key arrives when a member who has it hands it over — live when one of you is online, or through the server mailbox when an admin comes online.
          </p>
          {group.keyWait && group.keyWait.holders.length > 0 && (
            <p>
              Who can hand it over:{' '}
              {group.keyWait.holders.map((h, i) => (
                <span key={h.fingerprint}>
                  {i > 0 && ', '}
                  {h.name} (<span aria-hidden="true">{h.online ? '●' : '○'}</span> {h.online ? 'online' : 'offline'})
                </span>
              ))}
              .
            </p>
          )}
        </div>
      )}
    </>
  );
}
