/**
 * Creating a group: a name and a join policy, then the recovery code, shown once.
 * The whole flow is a draft, so closing the popup while the code shows loses nothing:
 * reopening shows the code again until the person confirms they saved it. The draft
 * never holds the code: the background keeps it, sealed, and hands it back
 * (`PendingRecoveryCode`). A replaced recovery code is shown through the same flow.
 */
import { useId, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import type { Draft } from '../components/useDraft.ts';
import { PendingRecoveryCode } from './RecoveryCode.tsx';
import { Screen } from './Screen.tsx';

export type Policy = 'verified' | 'invite-trust';

export interface CreateDraft {
  name: string;
  policy: Policy;
  /** Set once the group exists (or its code was replaced): its code is then shown until confirmed. */
  groupId: string | null;
}

export const EMPTY_CREATE: CreateDraft = { name: '', policy: 'verified', groupId: null };

/** A saved create draft, keeping only its known fields (never a code an older version saved). */
export function restoreCreate(saved: unknown): CreateDraft | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { name, policy, groupId } = saved as Record<string, unknown>;
  return {
    name: typeof name === 'string' ? name : '',
    policy: policy === 'invite-trust' ? 'invite-trust' : 'verified',
    groupId: typeof groupId === 'string' ? groupId : null,
  };
}

export const POLICY_WORDS: Record<Policy, { label: string; explain: string }> = {
  verified: {
    label: 'Verified people only (safest)',
    explain:
      'Someone joining with an invite gets the key only after a member has compared safety numbers with them, in person or on a call. Getting hold of a link is not enough to read it — unless an admin chooses, for one invite, to let that person read at once (the invite screen says what that gives up).',
  },
  'invite-trust': {
    label: 'Trusted by invite link (easier)',
    explain:
      'Whoever opens an invite gets the key as soon as any member is online, without checking safety numbers first. They show as “trusted by link” until someone verifies them. Anyone who gets hold of a link could join, so send links privately.',
  },
};

export interface CreateGroupProps {
  draft: Draft<CreateDraft>;
  onBack: () => void;
  onDone: () => void;
}

export function CreateGroup({ draft, onBack, onDone }: CreateGroupProps) {
  const action = useAction();
  const nameId = useId();
  const errorId = useId();
  const [missing, setMissing] = useState(false);
  const value = draft.value;

  if (value.groupId) {
    return <PendingRecoveryCode groupId={value.groupId} groupName={value.name.trim()} onDone={onDone} clear={draft.clear} />;
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    const name = value.name.trim();
    if (!name) {
      setMissing(true);
      document.getElementById(nameId)?.focus();
      return;
    }
    const created = await action.run({ type: 'group.create', name, policy: value.policy });
    if (!created.ok) return;
    // Saved at once, without the code: the background keeps it (sealed) until it is confirmed saved.
    await draft.saveNow({ ...value, name, groupId: created.data.groupId });
    announce(`The group ${name} is created. Its recovery code is shown: save it now.`);
  };

  return (
    <Screen title="Create a group" onBack={onBack}>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for={nameId}>Group name</label>
          <input
            id={nameId}
            type="text"
            maxLength={80}
            value={value.name}
            aria-invalid={missing}
            aria-describedby={missing ? errorId : undefined}
            onInput={(e) => {
              setMissing(false);
              draft.set((d) => ({ ...d, name: e.currentTarget.value }));
            }}
          />
          {missing && (
            <p id={errorId} class="field-error">
              Type a name for the group.
            </p>
          )}
          <p class="hint">Only members see the name: it is encrypted before it leaves this device.</p>
        </div>
        <fieldset>
          <legend>Who gets the key when they join?</legend>
          {(Object.keys(POLICY_WORDS) as Policy[]).map((policy) => (
            <PolicyChoice key={policy} policy={policy} checked={value.policy === policy} onChoose={() => draft.set((d) => ({ ...d, policy }))} />
          ))}
        </fieldset>
        <ErrorNotice error={action.error} title="The group could not be created" />
        <button type="submit" class="primary" disabled={action.pending}>
          {action.pending ? 'Creating…' : 'Create the group'}
        </button>
      </form>
    </Screen>
  );
}

function PolicyChoice({ policy, checked, onChoose }: { policy: Policy; checked: boolean; onChoose: () => void }) {
  const id = useId();
  const words = POLICY_WORDS[policy];
  return (
    <div class="choice">
      <label class="inline" for={id}>
        <input id={id} type="radio" name="policy" value={policy} checked={checked} onChange={onChoose} aria-describedby={`${id}-explain`} />
        <span>{words.label}</span>
      </label>
      <p id={`${id}-explain`} class="hint">
        {words.explain}
      </p>
    </div>
  );
}
