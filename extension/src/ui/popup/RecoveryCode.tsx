/**
 * The recovery code of a new group, shown once (DESIGN §6.4): large and grouped, with
 * a downloadable kit and a required "I saved it" before going on.
 */
import { useId, useRef, useState } from 'preact/hooks';
import type { GroupId } from '../../../../shared/src/protocol/ids.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
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
}

export function RecoveryCode({ groupId, groupName, code, onDone, clear }: RecoveryCodeProps) {
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
    if (!(await action.run({ type: 'group.confirmRecoverySaved', groupId: groupId as GroupId }))) return;
    await clear();
    announce(`The group ${groupName} is ready.`);
    onDone();
  };

  return (
    <Screen title={`Save the recovery code of “${groupName}”`}>
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
