/**
 * Restoring a group with its recovery code (DESIGN §6.4): this device joins the group as
 * an admin, added by the recovery key — every member sees it in their member list,
 * marked so, and the screen says so before and after (a brand-new device is not told it
 * is a member "again"; one that was in the group before is).
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
  /** This device (or its person) was in the group before. */
  returning?: boolean;
}

/** Only the outcome is restored: a code saved by an older version is dropped. */
function restoreOutcome(saved: unknown): RestoreDraft | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { groupId, returning } = saved as { groupId?: unknown; returning?: unknown };
  return { groupId: typeof groupId === 'string' ? groupId : null, returning: returning === true };
}

/**
 * Errors that are about the code typed (not the network): the field is marked invalid.
 * A code the server finds no group for comes back as `recovery-invalid` too, in words
 * that say the code may be wrong (errors.ts `recoveryNotValid`).
 */
const CODE_ERRORS = new Set(['recovery-invalid']);

export function Restore({ status, refresh, onDone }: { status: StatusView; refresh: () => Promise<void>; onDone: () => void }) {
  const draft = useDraft<RestoreDraft>('popup.restore', { groupId: null }, { restore: restoreOutcome });
  const [code, setCode] = useState('');
  const action = useAction();
  const codeId = useId();
  const errorId = useId();
  const refusedId = useId();
  const [missing, setMissing] = useState(false);
  const done = async () => {
    await draft.clear();
    onDone();
  };

  if (!draft.ready) return <p role="status">Loading…</p>;
  if (draft.value.groupId) {
    const group = status.groups.find((g) => g.groupId === draft.value.groupId);
    const returning = draft.value.returning === true;
    const name = group?.name ? `“${group.name}”` : 'The group';
    return (
      <Screen title="Group restored">
        <div class="notice notice-ok" role="status">
          <p class="notice-title">
            <span aria-hidden="true">✓</span> {returning ? `${name} is back on this device.` : `${name} is on this device now.`}
          </p>
          {returning ? (
            <p>This device is a member of the group again, as an admin added with the recovery code.</p>
          ) : (
            <p>This device joined the group as a new admin, added with the recovery code.</p>
          )}
          <p>
            The other members see it in their member list, marked “added with the recovery code”: tell them it was you, and verify each other (Members →
            Verify) so they know it is not someone else holding the code.
          </p>
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
    if (!restored.ok) {
      if (CODE_ERRORS.has(restored.error.code)) document.getElementById(codeId)?.focus();
      return;
    }
    announce('The group is restored.');
    setCode('');
    await draft.saveNow({ groupId: restored.data.groupId, returning: restored.data.returning === true });
    await refresh();
  };

  const codeRefused = action.error && CODE_ERRORS.has(action.error.code) ? action.error : null;
  const invalid = missing || codeRefused !== null;
  const describedBy = missing ? errorId : codeRefused ? refusedId : undefined;

  return (
    <Screen title="Restore a group" onBack={done}>
      <p>If every device of a group was lost, its recovery code brings the group and its notes back to this device.</p>
      <p>
        This device then joins the group as an admin. Everyone in the group sees it in their member list, marked “added with the recovery code”: tell
        them it is you.
      </p>
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
            aria-invalid={invalid}
            aria-describedby={describedBy}
            onInput={(e) => {
              setMissing(false);
              if (codeRefused) action.setError(null);
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
        <div id={refusedId}>
          <ErrorNotice error={action.error} title="The group could not be restored" />
        </div>
        <button type="submit" class="primary" disabled={action.pending}>
          {action.pending ? 'Restoring…' : 'Restore'}
        </button>
      </form>
    </Screen>
  );
}
