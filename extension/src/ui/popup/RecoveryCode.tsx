/**
 * A group's recovery code, shown once (DESIGN §6.4) — after creating the group, or
 * after an admin replaced the code: large and grouped, with a downloadable kit and a
 * required "I saved it" before going on. Until then the background keeps the code
 * (sealed), so it comes back if the page closes; the page itself keeps it only in
 * memory (`PendingRecoveryCode` asks for it again).
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { PendingRecoveryAnswer } from '../../messages/answers.ts';
import { ask } from '../../messages/client.ts';
import type { ExtensionError } from '../../messages/protocol.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { toExtensionError, useAction } from '../components/useAsk.ts';
import { Code } from './Code.tsx';
import { CopyButton } from './CopyButton.tsx';
import { downloadKit, recoveryKit } from './recovery-kit.ts';
import { Screen } from './Screen.tsx';

export interface RecoveryCodeProps {
  groupId: string;
  groupName: string;
  code: string;
  onDone: () => void;
  clear: () => Promise<void>;
  /** Made by "Replace the recovery code": the old one no longer works. */
  replaced?: boolean;
}

export function RecoveryCode({ groupId, groupName, code, onDone, clear, replaced = false }: RecoveryCodeProps) {
  const [saved, setSaved] = useState(false);
  const [nudge, setNudge] = useState(false);
  const checkbox = useRef<HTMLInputElement>(null);
  const checkId = useId();
  const nudgeId = useId();
  const action = useAction();

  const download = () => {
    downloadKit(recoveryKit(groupName, code));
    announce('The recovery kit is downloading.');
  };
  const finish = async () => {
    if (!saved) {
      setNudge(true);
      checkbox.current?.focus();
      return;
    }
    if (!(await action.run({ type: 'group.confirmRecoverySaved', groupId: groupId as GroupId })).ok) return;
    await clear();
    announce(replaced ? `The new recovery code of ${groupName} is saved.` : `The group ${groupName} is ready.`);
    onDone();
  };

  return (
    <Screen title={replaced ? `Save the new recovery code of “${groupName}”` : `Save the recovery code of “${groupName}”`}>
      {replaced && (
        <p>
          <strong>The old recovery code no longer works.</strong> Throw away (or destroy) the old recovery kit: this new code replaces it.
        </p>
      )}
      <p>
        If every device in this group is ever lost, this code is the only way to get the group and its notes back. It is shown <strong>only now</strong>.
      </p>
      <Code code={code} label="Recovery code" large />
      <div class="row">
        <button type="button" class="primary" onClick={download}>
          Download recovery kit
        </button>
        <CopyButton text={code} what="recovery code" />
      </div>
      <p class="hint">
        Print it or write it down, and keep it somewhere safe and private. Anyone who has it can open the group, and the server cannot recover it for
        you.
      </p>
      <div class="field">
        <label class="inline" for={checkId}>
          <input
            id={checkId}
            ref={checkbox}
            type="checkbox"
            checked={saved}
            aria-invalid={nudge && !saved}
            aria-describedby={nudge && !saved ? nudgeId : undefined}
            onChange={(e) => {
              setSaved(e.currentTarget.checked);
              setNudge(false);
            }}
          />
          <span>I saved the recovery code somewhere safe</span>
        </label>
        {nudge && !saved && (
          <p id={nudgeId} class="field-error">
            Save the code first, then tick this box.
          </p>
        )}
      </div>
      <ErrorNotice error={action.error} title="Could not finish" />
      <button type="button" class="primary" onClick={finish} disabled={action.pending} aria-disabled={!saved}>
        Continue
      </button>
    </Screen>
  );
}

export interface PendingRecoveryCodeProps {
  groupId: string;
  /** The group's name while the background's answer is on its way. */
  groupName: string;
  onDone: () => void;
  /** Forgets the page's flow (the code itself is never in it). */
  clear: () => Promise<void>;
}

/**
 * The recovery code still waiting to be saved, asked of the background (which keeps it
 * sealed) each time the page opens: no page draft ever holds the code itself.
 */
export function PendingRecoveryCode({ groupId, groupName, onDone, clear }: PendingRecoveryCodeProps) {
  const [pending, setPending] = useState<PendingRecoveryAnswer | null>(null);
  const [error, setError] = useState<ExtensionError | null>(null);
  useEffect(() => {
    let live = true;
    ask({ type: 'group.recoveryCode', groupId: groupId as GroupId }).then(
      (answer) => live && setPending(answer),
      async (thrown: unknown) => {
        const failure = toExtensionError(thrown);
        // Already confirmed (in another window): nothing left to show.
        if (failure.code === 'recovery-invalid') {
          await clear();
          if (live) onDone();
        } else if (live) setError(failure);
      },
    );
    return () => {
      live = false;
    };
  }, [groupId]);
  if (error) return <ErrorNotice error={error} title="The recovery code could not be shown" />;
  if (!pending) return <p role="status">Loading the recovery code…</p>;
  return <RecoveryCode groupId={groupId} groupName={pending.name ?? groupName} code={pending.recoveryCode} replaced={pending.replaced} onDone={onDone} clear={clear} />;
}
