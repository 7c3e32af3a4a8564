/**
 * Restoring a group with its recovery code (DESIGN §6.4): this device joins it again.
 * The code typed here lives only in this page's memory: it is never put in a draft
 * (the background refuses drafts holding one), so closing the popup forgets it and
 * nothing of it is written to the device. Only the outcome (which group came back) is
 * kept, so the "restored" screen survives the popup closing.
 */
import { useId, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import { useDraft } from '../components/useDraft.ts';
import type { StatusView } from '../../messages/views.ts';
import { Screen } from './Screen.tsx';

interface RestoreDraft {
  groupId: string | null;
}

/** Only the outcome is restored: a code saved by an older version is dropped. */
function restoreOutcome(saved: unknown): RestoreDraft | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { groupId } = saved as { groupId?: unknown };
  return { groupId: typeof groupId === 'string' ? groupId : null };
}

export function Restore({ status, refresh, onDone }: { status: StatusView; refresh: () => Promise<void>; onDone: () => void }) {
  const draft = useDraft<RestoreDraft>('popup.restore', { groupId: null }, { restore: restoreOutcome });
  const [code, setCode] = useState('');
  const action = useAction();
  const codeId = useId();
  const errorId = useId();
  const [missing, setMissing] = useState(false);
  const done = async () => {
    await draft.clear();
    onDone();
  };

  if (!draft.ready) return <p role="status">Loading…</p>;
  if (draft.value.groupId) {
    const group = status.groups.find((g) => g.groupId === draft.value.groupId);
    return (
      <Screen title="Group restored">
        <div class="notice notice-ok" role="status">
          <p class="notice-title">
            <span aria-hidden="true">✓</span> {group?.name ? `“${group.name}” is back on this device.` : 'The group is back on this device.'}
          </p>
          <p>This device is now a member of the group again, and the other members see it in the member list.</p>
        </div>
        <button type="button" class="primary" onClick={done}>
          Done
        </button>
      </Screen>
    );
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    const recoveryCode = code.trim();
    if (!recoveryCode) {
      setMissing(true);
      document.getElementById(codeId)?.focus();
      return;
    }
    const restored = await action.run({ type: 'group.restore', recoveryCode });
    if (!restored.ok) return;
    announce('The group is restored.');
    setCode('');
    await draft.saveNow({ groupId: restored.data.groupId });
    await refresh();
  };

  return (
    <Screen title="Restore a group" onBack={done}>
      <p>If every device of a group was lost, its recovery code brings the group and its notes back to this device.</p>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for={codeId}>Recovery code</label>
          <textarea
            id={codeId}
            rows={2}
            spellcheck={false}
            autoComplete="off"
            placeholder="REC1-…"
            value={code}
            aria-invalid={missing}
            aria-describedby={missing ? errorId : undefined}
            onInput={(e) => {
              setMissing(false);
              setCode(e.currentTarget.value);
            }}
          />
          {missing && (
            <p id={errorId} class="field-error">
              Type the recovery code first.
            </p>
          )}
          <p class="hint">It is on the recovery kit, and starts with REC1. Dashes, spaces and capital letters do not matter.</p>
          <p class="hint">For safety, the code is not kept if this window closes before the group is restored: you would type it again.</p>
        </div>
        <ErrorNotice error={action.error} title="The group could not be restored" />
        <button type="submit" class="primary" disabled={action.pending}>
          {action.pending ? 'Restoring…' : 'Restore'}
        </button>
      </form>
    </Screen>
  );
}
