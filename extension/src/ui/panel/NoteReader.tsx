/**
 * One note, read: title, author with their trust, time, and the body as written
 * (plain text, line breaks kept — never parsed as HTML). Edit, see the history
 * (NoteHistory) and delete from here; deleting asks first and says it is for everyone
 * in the group.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { TrustBadge } from '../components/TrustBadge.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { NoteFlags } from './NoteFlags.tsx';
import { formatFull } from './logic.ts';
import type { Go } from './route.ts';

export interface NoteReaderProps {
  groupId: GroupId;
  noteId: NoteId;
  canWrite: boolean;
  /** False when this device was removed from the group: it cannot fetch earlier versions (it keeps what it read). */
  canSeeHistory?: boolean;
  go: Go;
}

export function NoteReader({ groupId, noteId, canWrite, canSeeHistory = true, go }: NoteReaderProps) {
  const note = useAsk({ type: 'notes.read', groupId, noteId }, { groupId });
  const remove = useAction();
  const [confirming, setConfirming] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);

  // Opening a note moves focus to its title, so reading starts there.
  const focused = useRef(false);
  useEffect(() => {
    if (note.data && !focused.current) {
      focused.current = true;
      headingRef.current?.focus();
    }
  }, [note.data]);

  const back = (
    <button type="button" class="quiet back" onClick={() => go({ mode: 'list' })}>
      <span aria-hidden="true">←</span> All notes
    </button>
  );

  if (note.loading && !note.data)
    return (
      <section>
        {back}
        <p class="muted" aria-busy="true">
          Decrypting the note…
        </p>
      </section>
    );
  if (!note.data)
    return (
      <section>
        {back}
        <ErrorNotice error={note.error} title="This note cannot be read" onRetry={() => void note.reload()} />
      </section>
    );

  const data = note.data;
  const title = data.title.trim() || 'Untitled';
  const onDelete = async () => {
    const done = await remove.run({ type: 'notes.delete', groupId, noteId, baseVersion: data.version });
    setConfirming(false);
    if (done.ok) {
      announce(`“${title}” was deleted.`);
      go({ mode: 'list', noteId: null });
    }
  };

  return (
    <article class="note-read" aria-labelledby="note-title">
      {back}
      <h2 id="note-title" ref={headingRef} tabIndex={-1}>
        {title}
      </h2>
      <p class="note-meta">
        <span>by {data.authorName}</span> <TrustBadge trust={data.authorTrust} name={data.authorName} />{' '}
        <time dateTime={new Date(data.at).toISOString()}>{formatFull(data.at)}</time> <span class="muted">· version {data.version}</span>
      </p>
      <NoteFlags flags={data.flags} />
      {note.error && <ErrorNotice error={note.error} title="This may not be the newest version" onRetry={() => void note.reload()} />}
      <div class="note-body" tabIndex={0} aria-label="Note text">
        {data.body || <span class="muted">(empty)</span>}
      </div>
      <ErrorNotice error={remove.error} title="The note was not deleted" onDismiss={() => remove.setError(null)} />
      <div class="row note-actions">
        {canWrite && (
          <button type="button" class="primary" onClick={() => go({ mode: 'edit', noteId })}>
            Edit
          </button>
        )}
        {canSeeHistory && (
          <button type="button" onClick={() => go({ mode: 'history', noteId })}>
            History{data.version > 1 ? ` (${data.version} versions)` : ''}
          </button>
        )}
        {canWrite && (
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Delete…
          </button>
        )}
      </div>
      <ConfirmDialog
        open={confirming}
        title={`Delete “${title}”?`}
        confirmLabel={remove.pending ? 'Deleting…' : 'Delete for everyone'}
        danger
        busy={remove.pending}
        onConfirm={() => void onDelete()}
        onCancel={() => setConfirming(false)}
      >
        <p>The note is deleted for everyone in the group. Anyone who already read it may still have a copy.</p>
      </ConfirmDialog>
    </article>
  );
}
