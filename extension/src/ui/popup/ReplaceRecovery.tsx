/**
 * "Replace the recovery code" from the popup (an admin, after being told a recovery code
 * added a device): what it does in plain words, then progress, then the new recovery
 * kit through the same "I saved it" flow as a new group's.
 */
import type { ReplacedRecoveryAnswer } from '../../messages/answers.ts';
import type { GroupSummary } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { recoveryUsedExplain, recoveryUsedTitle, REPLACE_WORDS } from '../components/key-care-words.ts';
import { useAction } from '../components/useAsk.ts';
import { Screen } from './Screen.tsx';

export interface ReplaceRecoveryProps {
  group: GroupSummary;
  onBack: () => void;
  onReplaced: (answer: ReplacedRecoveryAnswer) => void;
}

export function ReplaceRecovery({ group, onBack, onReplaced }: ReplaceRecoveryProps) {
  const action = useAction();
  const name = group.name ?? 'this group';
  const replace = async () => {
    announce(REPLACE_WORDS.progress);
    const replaced = await action.run({ type: 'group.replaceRecovery', groupId: group.groupId });
    if (!replaced.ok) return;
    announce('The recovery code was replaced. The new one is shown: save it now.');
    onReplaced(replaced.data);
  };
  return (
    <Screen title={`Replace the recovery code of “${name}”?`} onBack={action.pending ? undefined : onBack}>
      {group.recoveryUsed && (
        <div class="notice notice-warn">
          <p class="notice-title">{recoveryUsedTitle(group.recoveryUsed)}.</p>
          <p>{recoveryUsedExplain(group.recoveryUsed)}</p>
        </div>
      )}
      {REPLACE_WORDS.body.map((line) => (
        <p key={line}>{line}</p>
      ))}
      {action.pending && (
        <div class="notice progress-notice" role="status">
          <p>{REPLACE_WORDS.progress}</p>
          <div class="progress" role="progressbar" aria-label="Replacing the recovery code" aria-valuetext="Working">
            <div class="progress-bar" />
          </div>
        </div>
      )}
      <ErrorNotice error={action.error} title="The recovery code was not replaced" />
      <div class="row">
        <button type="button" class="primary" onClick={() => void replace()} disabled={action.pending} aria-busy={action.pending}>
          {action.pending ? 'Replacing…' : REPLACE_WORDS.confirm}
        </button>
        <button type="button" onClick={onBack} disabled={action.pending}>
          Cancel
        </button>
      </div>
    </Screen>
  );
}
