/**
 * Joining with an invite: paste a link or code, or choose (or paste) a picture of its
 * QR code; then the named wait for the group key, read from `status` so it resumes
 * whenever the popup is opened again.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import type { GroupId } from '@conclave/shared/protocol';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { toExtensionError, useAction } from '../components/useAsk.ts';
import type { ExtensionError } from '../../messages/protocol.ts';
import { useDraft } from '../components/useDraft.ts';
import type { StatusView } from '../../messages/views.ts';
import { parseInviteInput } from './invite-input.ts';
import { describeKeyWait } from './key-wait-text.ts';
import { KeyWait } from './KeyWait.tsx';
import { KeyWaitActions } from './KeyWaitActions.tsx';
import { openNotes } from './open-panel.ts';
import { decodeQrImage } from './qr-decode.ts';
import { Screen } from './Screen.tsx';

interface JoinDraft {
  text: string;
  groupId: string | null;
}
const START: JoinDraft = { text: '', groupId: null };

/** How often the waiting screen asks for news, in case a broadcast was missed. */
const POLL_MS = 5_000;

export interface JoinProps {
  status: StatusView;
  /** Asks the background for the status again. */
  refresh: () => Promise<void>;
  onDone: () => void;
}

export function Join({ status, refresh, onDone }: JoinProps) {
  const draft = useDraft<JoinDraft>('popup.join', START);
  const done = async () => {
    await draft.clear();
    onDone();
  };
  if (!draft.ready) return <p role="status">Loading…</p>;
  if (draft.value.groupId) return <Joined status={status} refresh={refresh} groupId={draft.value.groupId as GroupId} onDone={done} />;
  const joined = async (groupId: GroupId) => {
    await draft.saveNow({ text: '', groupId });
    await refresh();
  };
  return <JoinForm text={draft.value.text} setText={(text) => draft.set((d) => ({ ...d, text }))} onJoined={joined} onBack={done} />;
}

interface JoinFormProps {
  text: string;
  setText: (text: string) => void;
  onJoined: (groupId: GroupId) => Promise<void>;
  onBack: () => void;
}

function JoinForm({ text, setText, onJoined, onBack }: JoinFormProps) {
  const action = useAction();
  const inputId = useId();
  const fileId = useId();
  const errorId = useId();
  const [fieldError, setFieldError] = useState<{ message: string; action: string } | null>(null);
  const [reading, setReading] = useState(false);

  const join = async (input: string) => {
    const parsed = parseInviteInput(input);
    if (!parsed.ok) {
      setFieldError(parsed);
      announce(parsed.message);
      document.getElementById(inputId)?.focus();
      return;
    }
    setFieldError(null);
    const joined = await action.run({ type: 'group.join', code: parsed.send });
    if (!joined.ok) return;
    announce('You joined the group. Now waiting for its key.');
    await onJoined(joined.data.groupId);
  };

  const readPicture = async (file: Blob | null | undefined) => {
    if (!file) return;
    setReading(true);
    setFieldError(null);
    try {
      const decoded = await decodeQrImage(file);
      if (!decoded) {
        setFieldError({ message: 'No QR code could be read in this picture.', action: 'Choose a sharper picture where the whole QR code shows, or paste the link instead.' });
        announce('No QR code could be read in this picture.');
        return;
      }
      setText(decoded);
      announce('The invite was read from the picture.');
      await join(decoded);
    } catch {
      setFieldError({ message: 'This picture could not be opened.', action: 'Choose a PNG or JPEG picture, or paste the link instead.' });
    } finally {
      setReading(false);
    }
  };

  const onPaste = (event: ClipboardEvent) => {
    const image = [...(event.clipboardData?.files ?? [])].find((file) => file.type.startsWith('image/'));
    if (image) {
      event.preventDefault();
      void readPicture(image);
    }
  };

  const openInTab = () => {
    void browser.tabs.create({ url: browser.runtime.getURL('/popup.html') }).then(() => window.close());
  };

  return (
    <Screen title="Join with an invite" onBack={onBack}>
      <form
        class="stack"
        onSubmit={(event) => {
          event.preventDefault();
          void join(text);
        }}
      >
        <div class="field">
          <label for={inputId}>Invite link or code</label>
          <textarea
            id={inputId}
            rows={3}
            spellcheck={false}
            autoComplete="off"
            value={text}
            aria-invalid={fieldError !== null}
            aria-describedby={fieldError ? errorId : undefined}
            onInput={(e) => {
              setFieldError(null);
              setText(e.currentTarget.value);
            }}
            onPaste={onPaste}
            placeholder="INV1-…"
          />
          {fieldError && (
            <div id={errorId} class="field-error-block">
              <p class="field-error">{fieldError.message}</p>
              <p class="hint">{fieldError.action}</p>
            </div>
          )}
          <p class="hint">The code is checked on this device: the server never sees it.</p>
        </div>
        <div class="field">
          <label for={fileId}>Or choose a picture of the QR code</label>
          <input id={fileId} type="file" accept="image/*" disabled={reading} onChange={(e) => void readPicture(e.currentTarget.files?.[0])} />
          <p class="hint">
            {reading ? 'Reading the picture…' : 'A screenshot or photo works; you can also paste a picture into the box above.'}{' '}
            <button type="button" class="link" onClick={openInTab}>
              Open this in a tab
            </button>{' '}
            if this window closes while you choose.
          </p>
        </div>
        <ErrorNotice error={action.error} title="Could not join" />
        <button type="submit" class="primary" disabled={action.pending || reading}>
          {action.pending ? 'Joining…' : 'Join'}
        </button>
      </form>
    </Screen>
  );
}

function Joined({ status, refresh, groupId, onDone }: { status: StatusView; refresh: () => Promise<void>; groupId: GroupId; onDone: () => void }) {
  const group = status.groups.find((g) => g.groupId === groupId);
  const waiting = !group?.hasKey;
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => void refresh(), POLL_MS);
    return () => clearInterval(timer);
  }, [waiting, refresh]);
  const wait = group?.keyWait ?? null;
  const line = group?.hasKey ? 'key-here' : wait ? describeKeyWait(wait).title : 'joining';
  useEffect(() => {
    if (line === 'key-here') announce(`You can read ${group?.name ?? 'the group'} now.`);
    else if (line !== 'joining') announce(line);
  }, [line]);
  const name = group?.name ?? 'the group';
  const [openError, setOpenError] = useState<ExtensionError | null>(null);

  return (
    <Screen title={group?.hasKey ? `You are in “${name}”` : 'Waiting for the group key'}>
      {!group ? (
        <p role="status">Joining…</p>
      ) : group.hasKey ? (
        <>
          {wait && <KeyWait wait={wait} />}
          <p>Everything in the group is encrypted; only its members can read it.</p>
          <ErrorNotice error={openError} title="The notes could not be opened" />
          <button
            type="button"
            class="primary"
            onClick={() =>
              openNotes(groupId).then(
                () => window.close(),
                (e: unknown) => setOpenError(toExtensionError(e)),
              )
            }
          >
            Open notes
          </button>
        </>
      ) : (
        <>
          <p>You are a member. The notes are encrypted with a key that another member hands to this device.</p>
          {wait ? <KeyWait wait={wait} /> : <p role="status">Starting to look for the key…</p>}
          <KeyWaitActions group={group} />
        </>
      )}
      <button type="button" class={group?.hasKey ? 'quiet' : ''} onClick={onDone}>
        {group?.hasKey ? 'Done' : 'Back to my groups (keep waiting)'}
      </button>
    </Screen>
  );
}
