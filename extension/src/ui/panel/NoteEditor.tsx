/**
 * Writing a note (new, or an edit of the version read). Title and text are kept in a
 * draft as they are typed, so closing the panel loses nothing; the draft goes when the
 * note is saved or discarded. The server keeps versions with compare-and-set (DESIGN
 * §5): when someone else saved first, both versions are shown side by side and the
 * person chooses — keep mine (saved on top of theirs), keep theirs, or copy mine to a
 * new note. Nothing is overwritten silently. A note with no title and no text is not
 * sent (the title field says why); an empty title becomes the text's first line
 * (the SDK's `titleToSave`, used by the background), and the field says so before it happens. Someone else's newer version is said at
 * once, not only at save: the editor checks the note's newest known version whenever
 * the background says the group changed (`notes.header`, from the cache the sync just
 * brought up to date), and what was typed stays as it is.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { RequestOf } from '../../messages/answers.ts';
import type { NoteHeaderView, NoteView, SaveNoteResult } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { TrustBadge } from '../components/TrustBadge.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { useDraft } from '../components/useDraft.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { copyTitle, editDraftKey, formatFull } from './logic.ts';
import type { Go } from './route.ts';

export const MAX_TITLE = 500;
export const MAX_BODY = 200_000;

export interface EditDraft {
  title: string;
  body: string;
  /** The version this edit started from (null: a new note). */
  baseVersion: number | null;
  /** Their version, when saving found that someone else saved first. */
  conflict: NoteView | null;
}

export interface NoteEditorProps {
  groupId: GroupId;
  noteId: NoteId | null;
  go: Go;
  /** The group's key is missing for now (between a rotation's log and its box): the text stays editable, saving waits. */
  waitingForKey?: boolean;
}

export function NoteEditor({ groupId, noteId, go, waitingForKey = false }: NoteEditorProps) {
  // The version being edited; not live: a change by someone else shows as a conflict on save.
  const note = useAsk(noteId ? { type: 'notes.read', groupId, noteId } : null, { live: false });
  if (!noteId) return <EditorForm groupId={groupId} noteId={null} initial={{ title: '', body: '', baseVersion: null, conflict: null }} go={go} waitingForKey={waitingForKey} />;
  if (note.loading && !note.data)
    return (
      <p class="muted" aria-busy="true">
        Opening the note…
      </p>
    );
  if (!note.data)
    return (
      <section>
        <ErrorNotice error={note.error} title="This note cannot be edited" onRetry={() => void note.reload()} />
        <button type="button" onClick={() => go({ mode: 'list' })}>
          Back to the notes
        </button>
      </section>
    );
  return <EditorForm groupId={groupId} noteId={noteId} initial={{ title: note.data.title, body: note.data.body, baseVersion: note.data.version, conflict: null }} go={go} waitingForKey={waitingForKey} />;
}

/** The newest known version when it is newer than the one this edit started from, else null. */
export function newerVersion(header: NoteHeaderView | null | undefined, baseVersion: number | null): NoteHeaderView | null {
  if (!header || baseVersion === null || header.version <= baseVersion) return null;
  return header;
}

/** What the editor says (and announces) when a newer version appeared underneath. */
export function newerVersionText(newer: NoteHeaderView): string {
  const who = newer.isMe ? 'You' : newer.authorName;
  // A version this device cannot open yet (its key is on its way, say): it cannot be compared before it opens.
  if (newer.unopened) return `${who} saved a newer version that this device cannot open yet, while you were writing. Your text is kept; once that version opens here, saving lets you choose what to keep.`;
  const what = newer.deleted ? 'deleted this note' : newer.isMe ? 'saved a newer version of this note in another window' : 'saved a newer version';
  return `${who} ${what} while you were writing. Your text is kept; when you save, you will choose what to keep.`;
}

/** A `notes.save` request without undefined fields. */
export function saveRequest(groupId: GroupId, noteId: NoteId | null, baseVersion: number | null, title: string, body: string): RequestOf<'notes.save'> {
  return noteId && baseVersion !== null ? { type: 'notes.save', groupId, noteId, baseVersion, title, body } : { type: 'notes.save', groupId, title, body };
}

function EditorForm({ groupId, noteId, initial, go, waitingForKey }: { groupId: GroupId; noteId: NoteId | null; initial: EditDraft; go: Go; waitingForKey: boolean }) {
  const draft = useDraft<EditDraft>(editDraftKey(groupId, noteId), initial);
  const save = useAction();
  const [discarding, setDiscarding] = useState(false);
  /** Save was pressed on a note with no title and no text: said by the title field, nothing sent. */
  const [emptyTried, setEmptyTried] = useState(false);
  const titleRef = useRef<HTMLInputElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const headingId = useId();
  const keyWaitId = useId();
  const { title, body, baseVersion, conflict } = draft.value;
  const changed = title !== initial.title || body !== initial.body;
  const tooLong = body.length > MAX_BODY;
  // Asked again on every change the background reports for this group (no network: its cache).
  const header = useAsk(noteId && baseVersion !== null ? { type: 'notes.header', groupId, noteId } : null, { groupId });
  const newer = newerVersion(header.data, baseVersion);
  const newerText = newer && !conflict ? newerVersionText(newer) : null;
  useEffect(() => {
    if (newerText) announce(newerText);
  }, [newerText]);

  const conflictRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!draft.ready) return;
    if (conflict) conflictRef.current?.focus();
    // Someone who already clicked into the form (before the draft loaded) keeps their place.
    else if (!titleRef.current?.form?.contains(document.activeElement)) titleRef.current?.focus();
  }, [draft.ready, conflict?.version]);

  const saved = async (result: SaveNoteResult, words: string) => {
    if (result.saved) {
      await draft.clear();
      announce(words);
      go({ mode: 'read', noteId: result.noteId });
      return;
    }
    draft.set((previous) => ({ ...previous, conflict: result.conflict.theirs }));
    await draft.saveNow();
    announce(`${result.conflict.theirs.authorName} saved a newer version while you were writing. Both versions are shown: choose which to keep.`);
  };

  const onSave = async (event?: Event) => {
    event?.preventDefault();
    if (tooLong || save.pending || waitingForKey) return;
    if (!title.trim() && !body.trim()) {
      setEmptyTried(true);
      titleRef.current?.focus();
      return;
    }
    const result = await save.run(saveRequest(groupId, noteId, baseVersion, title, body));
    if (result.ok) await saved(result.data, 'Note saved.');
  };

  const keepMine = async () => {
    if (!conflict || waitingForKey) return;
    // Saved on top of their version; if yet another version came first, this conflicts again.
    const result = await save.run(saveRequest(groupId, noteId, conflict.version, title, body));
    if (result.ok) await saved(result.data, 'Your version was saved on top of theirs.');
  };

  const keepTheirs = async () => {
    await draft.clear();
    announce('Kept their version; your changes were discarded.');
    go({ mode: 'read', noteId });
  };

  const copyMine = async () => {
    if (waitingForKey) return;
    const copy = copyTitle(title);
    const result = await save.run(saveRequest(groupId, null, null, copy, body));
    if (!result.ok) return;
    if (result.data.saved) {
      await draft.clear();
      announce(`Your version was saved as a new note, “${copy}”. Theirs is unchanged.`);
      go({ mode: 'read', noteId: result.data.noteId });
    }
  };

  const discard = async () => {
    setDiscarding(false);
    await draft.clear();
    announce(noteId ? 'Changes discarded.' : 'Draft discarded.');
    go(noteId ? { mode: 'read', noteId } : { mode: 'list' });
  };

  if (!draft.ready)
    return (
      <p class="muted" aria-busy="true">
        Opening your draft…
      </p>
    );

  if (conflict)
    return (
      <section class="conflict" aria-labelledby={headingId}>
        <h2 id={headingId} tabIndex={-1} ref={conflictRef}>
          Someone else changed this note
        </h2>
        <p>
          {conflict.authorName} saved version {conflict.version} while you were writing. Nothing has been overwritten: choose what to keep.
        </p>
        <div class="conflict-columns">
          <section class="conflict-version" aria-labelledby={`${headingId}-theirs`}>
            <h3 id={`${headingId}-theirs`}>Their version</h3>
            <p class="note-meta">
              by {conflict.authorName} <TrustBadge trust={conflict.authorTrust} name={conflict.authorName} /> · {formatFull(conflict.at)}
            </p>
            <p class="conflict-title">{conflict.title.trim() || 'Untitled'}</p>
            <div class="note-body" tabIndex={0} aria-label="Their text">
              {conflict.body}
            </div>
          </section>
          <section class="conflict-version" aria-labelledby={`${headingId}-mine`}>
            <h3 id={`${headingId}-mine`}>Your version</h3>
            <p class="note-meta">not saved yet</p>
            <p class="conflict-title">{title.trim() || 'Untitled'}</p>
            <div class="note-body" tabIndex={0} aria-label="Your text">
              {body}
            </div>
          </section>
        </div>
        {waitingForKey && <KeyWaitNotice id={keyWaitId} />}
        <ErrorNotice error={save.error} title="That did not work" onDismiss={() => save.setError(null)} />
        <div class="row conflict-actions" aria-busy={save.pending}>
          <button type="button" class="primary" disabled={save.pending || waitingForKey} aria-describedby={waitingForKey ? keyWaitId : undefined} onClick={() => void keepMine()}>
            Keep mine
          </button>
          <button type="button" disabled={save.pending} onClick={() => void keepTheirs()}>
            Keep theirs
          </button>
          <button type="button" disabled={save.pending || waitingForKey} onClick={() => void copyMine()}>
            Copy mine to a new note
          </button>
        </div>
        <p class="hint">“Keep mine” saves your version as the newest; theirs stays in the note’s history. “Copy mine to a new note” keeps both.</p>
      </section>
    );

  return (
    <form class="note-edit" aria-labelledby={headingId} onSubmit={(event) => void onSave(event)}>
      <h2 id={headingId}>{noteId ? 'Edit note' : 'New note'}</h2>
      {newerText && (
        <div class="notice notice-warn">
          <p class="notice-title">
            <span aria-hidden="true">↻</span> This note changed while you were writing
          </p>
          <p>{newerText}</p>
        </div>
      )}
      <div class="field">
        <label for={titleId}>Title</label>
        <input
          id={titleId}
          ref={titleRef}
          type="text"
          value={title}
          maxLength={MAX_TITLE}
          autocomplete="off"
          aria-invalid={emptyTried}
          aria-describedby={`${titleId}-hint`}
          onInput={(event) => {
            setEmptyTried(false);
            draft.set((previous) => ({ ...previous, title: (event.currentTarget as HTMLInputElement).value }));
          }}
        />
        {emptyTried ? (
          <p id={`${titleId}-hint`} class="field-error">
            Write a title or some text first. An empty note is not saved; to leave without one, choose Cancel.
          </p>
        ) : (
          <p id={`${titleId}-hint`} class="hint">
            Optional: left empty, the first line of the text becomes the title.
          </p>
        )}
      </div>
      <div class="field">
        <label for={bodyId}>Text</label>
        <textarea
          id={bodyId}
          class="note-textarea"
          value={body}
          aria-invalid={tooLong}
          aria-describedby={`${bodyId}-hint`}
          onInput={(event) => {
            setEmptyTried(false);
            draft.set((previous) => ({ ...previous, body: (event.currentTarget as HTMLTextAreaElement).value }));
          }}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) void onSave(event);
          }}
        />
        {tooLong ? (
          <p id={`${bodyId}-hint`} class="field-error">
            This note is too long ({body.length.toLocaleString('en-US')} of {MAX_BODY.toLocaleString('en-US')} characters): split it into two notes.
          </p>
        ) : (
          <p id={`${bodyId}-hint`} class="hint">
            Saved as a draft on this device as you type. Ctrl+Enter saves the note.
          </p>
        )}
      </div>
      {waitingForKey && <KeyWaitNotice id={keyWaitId} />}
      <ErrorNotice error={save.error} title="The note was not saved" onDismiss={() => save.setError(null)} />
      <div class="row">
        <button type="submit" class="primary" disabled={save.pending || tooLong || waitingForKey} aria-busy={save.pending} aria-describedby={waitingForKey ? keyWaitId : undefined}>
          {save.pending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" onClick={() => (changed ? setDiscarding(true) : void discard())}>
          Cancel
        </button>
      </div>
      <ConfirmDialog
        open={discarding}
        title={noteId ? 'Discard your changes?' : 'Discard this draft?'}
        confirmLabel="Discard"
        cancelLabel="Keep writing"
        danger
        onConfirm={() => void discard()}
        onCancel={() => setDiscarding(false)}
      >
        <p>{noteId ? 'The note stays as it was saved.' : 'The draft is deleted from this device.'}</p>
      </ConfirmDialog>
    </form>
  );
}

/**
 * Shown while the group's key is missing for a moment (usually well under a second):
 * not announced, so a screen reader is not interrupted by a flicker; the disabled Save
 * button is described by it.
 */
function KeyWaitNotice({ id }: { id: string }) {
  return (
    <p id={id} class="notice">
      <span aria-hidden="true">⏳</span> Waiting for the group's new key — your text is kept. You can save once it arrives.
    </p>
  );
}
