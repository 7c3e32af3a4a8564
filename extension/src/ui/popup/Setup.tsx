/** First run: this device has no identity yet. Asks for a display name, then `identity.create`. */
import { useId, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import { useDraft } from '../components/useDraft.ts';
import { openOptionsAt } from './options-link.ts';
import { Screen } from './Screen.tsx';

export function Setup({ onDone }: { onDone: () => void }) {
  const draft = useDraft('popup.setup', { displayName: '' });
  const action = useAction();
  const nameId = useId();
  const hintId = useId();
  const errorId = useId();
  const linkHeadingId = useId();
  const [missing, setMissing] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (draft.value.displayName.trim() === '') {
      setMissing(true);
      document.getElementById(nameId)?.focus();
      return;
    }
    const created = await action.run({ type: 'identity.create', displayName: draft.value.displayName.trim() });
    if (!created.ok) return;
    await draft.clear();
    announce('This device is set up.');
    onDone();
  };
  if (!draft.ready) return <p role="status">Loading…</p>;
  return (
    <Screen title="Set up this device">
      <p>Conclave keeps notes that only the people in your group can read. First, give this device a name.</p>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for={nameId}>Your name, as your groups will see it</label>
          <input
            id={nameId}
            type="text"
            autoComplete="nickname"
            maxLength={80}
            aria-describedby={missing ? `${errorId} ${hintId}` : hintId}
            aria-invalid={missing}
            value={draft.value.displayName}
            onInput={(e) => {
              setMissing(false);
              draft.set({ displayName: e.currentTarget.value });
            }}
          />
          {missing && (
            <p id={errorId} class="field-error">
              Type a name first.
            </p>
          )}
          <p id={hintId} class="hint">
            Only the people in your groups see it. It is encrypted on this device: the server never sees names, only scrambled data.
          </p>
        </div>
        <ErrorNotice error={action.error} title="This device could not be set up" />
        <button type="submit" class="primary" disabled={action.pending}>
          {action.pending ? 'Setting up…' : 'Set up'}
        </button>
      </form>
      <section class="stack" aria-labelledby={linkHeadingId}>
        <h2 id={linkHeadingId}>Already use Conclave?</h2>
        <p>If you use Conclave on another device or browser, link this one to it instead: it gets your name and your groups, and you stay one person in them.</p>
        <button type="button" onClick={() => openOptionsAt('link-to-identity')} data-testid="popup-link-to-identity">
          Link to my identity
        </button>
      </section>
    </Screen>
  );
}
