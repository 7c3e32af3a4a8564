
/**
 * The group key and the recovery code, in the side panel: what every admin must know
 * (a recovery code added a device and was not replaced since; the key was not rotated
 * since someone left; a key generation is broken, named by the device that made it),
 * and the admin's remedies — "Rotate the key now" (also "Repair") and "Replace the
 * recovery code" — each behind a confirmation in plain words, with progress, and for
 * the replacement the new recovery kit through the same "I saved it" flow as a new
 * group's. A code waiting to be saved is asked of the background each time (it keeps
 * it sealed), so closing the panel loses nothing and no page keeps it.
 */
import { useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { ReplacedRecoveryAnswer } from '../../messages/answers.ts';
import type { GroupDetailView, GroupSummary } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { OutcomeNotice } from '../components/OutcomeNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import {
  faultText,
  owedRotationText,
  recoveryUsedExplain,
  recoveryUsedTitle,
  REPAIR_WORDS,
  REPLACE_WORDS,
  ROTATE_WORDS,
  rotatedText,
} from '../components/key-care-words.ts';
import { PendingRecoveryCode, RecoveryCode } from '../popup/RecoveryCode.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { groupName } from './logic.ts';

export interface KeyCareProps {
  group: GroupSummary;
  /** The full view once loaded (key health comes with it). */
  detail: GroupDetailView | undefined;
  reload: () => Promise<void>;
  /** Show the admin's "Group key and recovery code" section (the members view). */
  showActions: boolean;
}

type Asking = 'rotate' | 'repair' | 'replace' | null;

export function KeyCare({ group, detail, reload, showActions }: KeyCareProps) {
  const action = useAction();
  const [asking, setAsking] = useState<Asking>(null);
  const [working, setWorking] = useState<Exclude<Asking, null> | null>(null);
  const [outcome, setOutcome] = useState<string[] | null>(null);
  /** The new code, in memory only, right after replacing; after a reload it is asked for again. */
  const [fresh, setFresh] = useState<ReplacedRecoveryAnswer | null>(null);
  const [showPending, setShowPending] = useState(false);

  const name = groupName(group);
  const isAdmin = group.role === 'admin' && !group.removed && !group.alarm;
  const health = detail?.keyHealth;
  const groupId = group.groupId as GroupId;

  const rotate = async (kind: 'rotate' | 'repair') => {
    setAsking(null);
    setOutcome(null);
    setWorking(kind);
    const words = kind === 'repair' ? REPAIR_WORDS : ROTATE_WORDS;
    announce(words.progress);
    const result = await action.run({ type: 'group.rotateKey', groupId });
    setWorking(null);
    if (result.ok) {
      const lines = rotatedText(result.data.unreachable);
      setOutcome(lines);
      announce(lines.join(' '));
      await reload();
    } else announce('No new key was started.');
  };

  const replace = async () => {
    setAsking(null);
    setOutcome(null);
    setWorking('replace');
    announce(REPLACE_WORDS.progress);
    const result = await action.run({ type: 'group.replaceRecovery', groupId });
    setWorking(null);
    if (result.ok) {
      setFresh(result.data);
      announce('The recovery code was replaced. The new one is shown: save it now.');
    } else announce('The recovery code was not replaced.');
  };

  const codeDone = () => {
    setFresh(null);
    setShowPending(false);
    void reload();
  };

  // The new recovery kit comes before anything else until it is confirmed saved.
  if (fresh) {
    return (
      <div class="key-care recovery-kit">
        <RecoveryCode groupId={groupId} groupName={fresh.name ?? name} code={fresh.recoveryCode} replaced onDone={codeDone} clear={async () => undefined} />
      </div>
    );
  }
  if (showPending) {
    return (
      <div class="key-care recovery-kit">
        <PendingRecoveryCode groupId={groupId} groupName={name} onDone={codeDone} clear={async () => undefined} />
      </div>
    );
  }

  const progressWords = working === 'replace' ? REPLACE_WORDS.progress : working === 'repair' ? REPAIR_WORDS.progress : ROTATE_WORDS.progress;

  return (
    <div class="key-care">
      {isAdmin && group.recoveryUnconfirmed && (
        <div class="notice notice-warn banner" role="status">
          <p class="notice-title">
            <span aria-hidden="true">!</span> The recovery code of “{name}” is not saved yet
          </p>
          <p>Until it is saved somewhere safe, keep this device: if it is lost before anyone else holds the key, so is the group.</p>
          <button type="button" onClick={() => setShowPending(true)}>
            Show the recovery code
          </button>
        </div>
      )}
      {isAdmin && group.recoveryUsed && !group.recoveryUnconfirmed && (
        <div class="notice notice-warn banner" role="status">
          <p class="notice-title">
            <span aria-hidden="true">!</span> {recoveryUsedTitle(group.recoveryUsed)}
          </p>
          <p>{recoveryUsedExplain(group.recoveryUsed)}</p>
          <button type="button" class="primary" disabled={action.pending} onClick={() => setAsking('replace')}>
            Replace the recovery code…
          </button>
        </div>
      )}
      {health?.owedRotation && !group.removed && (
        <div class="notice notice-warn banner" role="status">
          <p class="notice-title">
            <span aria-hidden="true">!</span> {owedRotationText(health.owedRotation)}
          </p>
          <p>
            {isAdmin
              ? 'Until a new key is started, they could still read notes written from now on if they kept a copy of the key.'
              : 'An admin’s device starts a new key as soon as it sees this. Until then, they could still read new notes if they kept a copy of the key.'}
          </p>
          {isAdmin && (
            <button type="button" class="primary" disabled={action.pending} onClick={() => setAsking('rotate')}>
              Rotate the key now…
            </button>
          )}
        </div>
      )}
      {health && health.faults.length > 0 && !group.removed && (
        <div class="notice notice-alarm banner" role="alert">
          {health.faults.map((fault) => (
            <p key={fault.generation} class="notice-title">
              <span aria-hidden="true">⚠</span> {faultText(fault)}
            </p>
          ))}
          <p>
            {isAdmin && health.canRepair
              ? 'Repair it: this device starts a new key from the newest one that works, and the group goes on.'
              : isAdmin
                ? 'This device does not hold a working key to repair it from. Ask another admin to repair it.'
                : 'Tell an admin of the group: they can repair it from their device.'}
          </p>
          {isAdmin && health.canRepair && (
            <button type="button" class="primary" disabled={action.pending} onClick={() => setAsking('repair')}>
              Repair…
            </button>
          )}
        </div>
      )}

      {working && (
        <div class="notice progress-notice" role="status">
          <p>{progressWords}</p>
          <div class="progress" role="progressbar" aria-label={progressWords} aria-valuetext="Working">
            <div class="progress-bar" />
          </div>
        </div>
      )}
      <ErrorNotice error={action.error} title="That did not work" onDismiss={() => action.setError(null)} />
      {outcome && (
        <OutcomeNotice lines={outcome} onClose={() => setOutcome(null)} />
      )}

      {showActions && isAdmin && (
        <section class="key-actions" aria-labelledby="key-actions-heading">
          <h2 id="key-actions-heading">Group key and recovery code</h2>
          <p class="hint">
            Start a new key if a device may be lost or someone left. Replace the recovery code if it may have been seen by someone else, or a recovery kit was lost.
          </p>
          <div class="row">
            <button type="button" disabled={action.pending} onClick={() => setAsking('rotate')}>
              Rotate the key now…
            </button>
            <button type="button" disabled={action.pending} onClick={() => setAsking('replace')}>
              Replace the recovery code…
            </button>
          </div>
        </section>
      )}

      {isAdmin && (
        <>
      <ConfirmDialog
        open={asking === 'rotate' || asking === 'repair'}
        title={asking === 'repair' ? REPAIR_WORDS.title : ROTATE_WORDS.title}
        confirmLabel={asking === 'repair' ? REPAIR_WORDS.confirm : ROTATE_WORDS.confirm}
        onConfirm={() => void rotate(asking === 'repair' ? 'repair' : 'rotate')}
        onCancel={() => setAsking(null)}
      >
        {(asking === 'repair' ? REPAIR_WORDS : ROTATE_WORDS).body.map((line) => (
          <p key={line}>{line}</p>
        ))}
      </ConfirmDialog>
      <ConfirmDialog
        open={asking === 'replace'}
        title={`${REPLACE_WORDS.title.replace('?', '')} of “${name}”?`}
        confirmLabel={REPLACE_WORDS.confirm}
        danger
        onConfirm={() => void replace()}
        onCancel={() => setAsking(null)}
      >
        {REPLACE_WORDS.body.map((line) => (
          <p key={line}>{line}</p>
        ))}
      </ConfirmDialog>
        </>
      )}
    </div>
  );
}
