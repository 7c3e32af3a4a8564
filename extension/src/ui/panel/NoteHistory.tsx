/**
 * A note's history: every saved version, newest first, with who wrote it, when, and
 * the group key generation it is sealed with (the background's `notes.history`: each
 * version signed by its author and following on from the one before). One version can
 * be opened to read; an earlier one can be restored — its title and text saved again
 * as a new version, after asking — when this device may write. Someone's newer save
 * shows up by itself (the list is fetched again when the note's newest version changes).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { NoteVersionView } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { TrustBadge } from '../components/TrustBadge.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { formatFull } from './logic.ts';
import type { Go } from './route.ts';
import './history-export.css';

export interface NoteHistoryProps {
  groupId: GroupId;
  noteId: NoteId;
  canWrite: boolean;
  go: Go;
}

/** "Version 3" and what it is, for the list and the open version's heading. */
function versionTitle(v: NoteVersionView): string {
  if (v.deleted) return 'Deleted';
  if (!v.ok) return 'Cannot be read on this device';
  return v.title.trim() || 'Untitled';
}

export function NoteHistory({ groupId, noteId, canWrite, go }: NoteHistoryProps) {
  // The whole chain is fetched once, and again only when the note's newest version this
  // device knows (`notes.header`, from its cache: no network) is another than the one listed —
  // not on every change to the group's other notes.
  const history = useAsk({ type: 'notes.history', groupId, noteId }, { groupId, live: false });
  const header = useAsk({ type: 'notes.header', groupId, noteId }, { groupId });
  const listedNewest = history.data?.versions[0]?.version;
  const knownNewest = header.data?.version;
  useEffect(() => {
    if (listedNewest !== undefined && knownNewest !== undefined && knownNewest !== listedNewest) void history.reload();
  }, [listedNewest, knownNewest]);
  const restore = useAction();
  const [open, setOpen] = useState<number | null>(null);
  const [confirming, setConfirming] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const versionRef = useRef<HTMLHeadingElement>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const backTo = useRef<number | null>(null);

  // Opening the history moves focus to its heading; opening a version, to the version's.
  const focused = useRef(false);
  useEffect(() => {
    if (history.data && !focused.current) {
      focused.current = true;
      headingRef.current?.focus();
    }
  }, [history.data]);
  useEffect(() => {
    if (open !== null) versionRef.current?.focus();
    else if (backTo.current !== null) {
      listRef.current?.querySelector<HTMLButtonElement>(`button[data-version="${backTo.current}"]`)?.focus();
      backTo.current = null;
    }
  }, [open]);

  const toNote = (
    <button type="button" class="quiet back" onClick={() => go({ mode: 'read', noteId })}>
      <span aria-hidden="true">←</span> Back to the note
    </button>
  );

  if (!history.data)
    return (
      <section>
        {toNote}
        {history.loading ? (
          <p class="muted" aria-busy="true">
            Fetching and checking every version…
          </p>
        ) : (
          <ErrorNotice error={history.error} title="The history cannot be shown" onRetry={() => void history.reload()} />
        )}
      </section>
    );

  const versions = history.data.versions;
  const newest = versions[0];
  const shown = open === null ? undefined : versions.find((v) => v.version === open);
  const newestTitle = newest?.ok ? newest.title.trim() || 'Untitled' : 'this note';

  const onRestore = async (v: NoteVersionView) => {
    if (!newest) return;
    const done = await restore.run({ type: 'notes.restore', groupId, noteId, version: v.version, baseVersion: newest.version });
    setConfirming(false);
    if (done.ok) {
      announce(`Version ${v.version} was restored: it is now version ${done.data.version}.`);
      go({ mode: 'read', noteId });
    } else if (done.error.code === 'conflict') {
      void history.reload();
    }
  };

  if (shown) {
    const canRestore = canWrite && shown.ok && !shown.deleted && shown.version !== newest?.version;
    return (
      <article class="note-read note-version" aria-labelledby="version-title">
        <button
          type="button"
          class="quiet back"
          onClick={() => {
            backTo.current = shown.version;
            setOpen(null);
          }}
        >
          <span aria-hidden="true">←</span> All versions
        </button>
        <h2 id="version-title" ref={versionRef} tabIndex={-1}>
          Version {shown.version}: {versionTitle(shown)}
        </h2>
        <VersionMeta v={shown} newest={shown.version === newest?.version} />
        {shown.ok && !shown.deleted && (
          <div class="note-body" tabIndex={0} aria-label={`Text of version ${shown.version}`}>
            {shown.body || <span class="muted">(empty)</span>}
          </div>
        )}
        {shown.deleted && <p>This version deleted the note for everyone.</p>}
        {!shown.ok && (
          <p>
            {shown.message} <strong>What to do: </strong>
            {shown.action}
          </p>
        )}
        <ErrorNotice error={restore.error} title="The version was not restored" onDismiss={() => restore.setError(null)} />
        {canRestore && (
          <div class="row note-actions">
            <button type="button" class="primary" onClick={() => setConfirming(true)}>
              Restore this version…
            </button>
          </div>
        )}
        {shown.version === newest?.version && <p class="muted">This is the newest version: it is what everyone sees now.</p>}
        <ConfirmDialog
          open={confirming}
          title={`Restore version ${shown.version}?`}
          confirmLabel={restore.pending ? 'Restoring…' : 'Restore'}
          busy={restore.pending}
          onConfirm={() => void onRestore(shown)}
          onCancel={() => setConfirming(false)}
        >
          <p>
            Its title and text are saved as a new version ({(newest?.version ?? 0) + 1}), which everyone in the group sees. Nothing is lost: the versions in between stay
            in the history.
          </p>
        </ConfirmDialog>
      </article>
    );
  }

  return (
    <section class="note-history" aria-labelledby="history-title">
      {toNote}
      <h2 id="history-title" ref={headingRef} tabIndex={-1}>
        History of “{newestTitle}”
      </h2>
      <p class="hint">
        Every saved version, newest first. Each one is signed by the person who wrote it, and this device checked that none is missing or changed. The key generation
        goes up each time the group’s key is changed (for example after someone is removed).
      </p>
      {history.error && <ErrorNotice error={history.error} title="This may not be the whole history" onRetry={() => void history.reload()} />}
      <ErrorNotice error={restore.error} title="The version was not restored" onDismiss={() => restore.setError(null)} />
      <ol ref={listRef} class="note-list version-list" aria-label="Versions">
        {versions.map((v) => (
          <li key={v.version} class="note-item">
            <button type="button" class="note-row" data-version={v.version} aria-describedby={`version-${v.version}-meta`} onClick={() => setOpen(v.version)}>
              <span class="note-title">
                Version {v.version}: {versionTitle(v)}
              </span>
            </button>
            <VersionMeta v={v} newest={v.version === newest?.version} id={`version-${v.version}-meta`} />
          </li>
        ))}
      </ol>
    </section>
  );
}

function VersionMeta({ v, newest, id }: { v: NoteVersionView; newest: boolean; id?: string }) {
  return (
    <p class="note-meta" id={id}>
      <span>by {v.authorName}</span> <TrustBadge trust={v.authorTrust} name={v.authorName} />{' '}
      <span>
        <time dateTime={new Date(v.at).toISOString()}>{formatFull(v.at)}</time>
        <span class="muted">
          {' '}
          · key generation {v.generation}
          {newest && ' · newest'}
        </span>
      </span>
    </p>
  );
}
