/**
 * The notes list: title, author, time and the author's trust, newest first, with a
 * search over the titles already decrypted on this device (nothing is sent anywhere).
 * Only the first PAGE_SIZE matches are drawn, then "Show more": a group of 10,000
 * notes opens as fast as one of 200, and a screen reader's list count stays truthful.
 * A note that cannot be decrypted says why and what to do, in the background's words.
 * A group that removed this device lists what the device kept, read-only.
 */
import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { GroupSummary, ListedNoteView } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { TrustBadge } from '../components/TrustBadge.tsx';
import { useAsk } from '../components/useAsk.ts';
import { filterNotes, formatFull, formatWhen, indexNotes, PAGE_SIZE, resultCountText } from './logic.ts';
import { NoteFlags } from './NoteFlags.tsx';
import { ExportNotes } from './ExportNotes.tsx';
import { AlarmRefusal, isAlarmRefusal } from './GroupBanners.tsx';
import type { Go } from './route.ts';

/** Quiet time after the last keystroke before the result count is announced. */
const ANNOUNCE_DELAY_MS = 700;

export interface NotesListProps {
  groupId: GroupId;
  group: GroupSummary;
  canWrite: boolean;
  go: Go;
  /** The note last opened: focused again when coming back to the list. */
  lastOpened: string | null;
  /**
   * Shown again after another view of this group's notes (a note, the editor, a history),
   * as its parent knows: focus lost with that view goes to the list's heading. False on
   * a group's first showing, which keeps the browser's own starting point.
   */
  returning: boolean;
}

export function NotesList({ groupId, group, canWrite, go, lastOpened, returning }: NotesListProps) {
  const readable = group.hasKey || group.removed;
  const list = useAsk(readable ? { type: 'notes.list', groupId } : null, { groupId });
  const [query, setQuery] = useState('');
  const [limit, setLimit] = useState(PAGE_SIZE);
  const searchId = useId();
  const countId = useId();
  const listRef = useRef<HTMLUListElement>(null);
  const focusIndex = useRef<number | null>(null);

  const indexed = useMemo(() => indexNotes(list.data ?? []), [list.data]);
  const matches = useMemo(() => filterNotes(indexed, query), [indexed, query]);
  const shown = matches.slice(0, limit);
  const countText = resultCountText(matches.length, indexed.length, query);

  // Announce the count once typing pauses (not on every keystroke).
  const firstCount = useRef(true);
  useEffect(() => {
    if (!list.data) return;
    if (firstCount.current) {
      firstCount.current = false;
      return;
    }
    const timer = setTimeout(() => announce(countText), ANNOUNCE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [countText]);

  // Back from a view whose focused control went away with it (a note deleted or closed, a
  // new note saved): focus the list's heading, so the keyboard starts here, not at the top.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (returning && lost) headingRef.current?.focus();
    // Read once, as the list appears: later renders of the same list change nothing.
  }, []);

  // Back from a note: focus its row again, so the person keeps their place.
  const refocused = useRef(false);
  useEffect(() => {
    if (refocused.current || !list.data || !lastOpened) return;
    refocused.current = true;
    const row = listRef.current?.querySelector<HTMLButtonElement>(`button[data-note="${CSS.escape(lastOpened)}"]`);
    row?.focus();
  }, [list.data, lastOpened]);

  // After "Show more", focus the first newly shown note.
  useEffect(() => {
    if (focusIndex.current === null) return;
    const index = focusIndex.current;
    focusIndex.current = null;
    listRef.current?.querySelector<HTMLButtonElement>(`button[data-index="${index}"]`)?.focus();
  }, [limit]);

  const onSearch = (event: Event) => {
    setQuery((event.currentTarget as HTMLInputElement).value);
    setLimit(PAGE_SIZE);
  };

  return (
    <section class="notes" aria-labelledby={`${countId}-h`}>
      <div class="row notes-head">
        <h2 id={`${countId}-h`} ref={headingRef} tabIndex={-1}>
          Notes
        </h2>
        {canWrite && (
          <button type="button" class="primary" onClick={() => go({ mode: 'edit', noteId: null })}>
            <span aria-hidden="true">+</span> New note
          </button>
        )}
      </div>
      {!readable ? (
        <p class="muted">The notes show here once this device has the group’s key.</p>
      ) : list.loading && !list.data ? (
        <p class="muted" aria-busy="true">
          Decrypting the notes…
        </p>
      ) : list.error && !list.data ? (
        isAlarmRefusal(list.error, group) ? (
          <AlarmRefusal title="The notes could not be loaded" onRetry={() => void list.reload()} />
        ) : (
          <ErrorNotice error={list.error} title="The notes could not be loaded" onRetry={() => void list.reload()} />
        )
      ) : (
        <>
          {group.removed && (
            <p class="hint" data-testid="kept-notes">
              What this device kept from before you were removed: read-only. Notes written or changed since then are not here.
            </p>
          )}
          <div class="field search">
            <label for={searchId}>Search titles</label>
            <input id={searchId} type="search" value={query} onInput={onSearch} aria-describedby={countId} autocomplete="off" spellcheck={false} />
            <p class="hint">Searches the titles on this device; nothing is sent to the server.</p>
          </div>
          <p id={countId} class="notes-count">
            {countText}
            {matches.length > shown.length && ` — showing the newest ${shown.length.toLocaleString('en-US')}`}
          </p>
          {list.error &&
            (isAlarmRefusal(list.error, group) ? (
              <AlarmRefusal title="The list may be out of date" onRetry={() => void list.reload()} />
            ) : (
              <ErrorNotice error={list.error} title="The list may be out of date" onRetry={() => void list.reload()} />
            ))}
          {indexed.length === 0 ? (
            <p class="muted">{canWrite ? 'No notes yet. Write the first one with “New note”.' : group.removed ? 'This device kept no notes of this group.' : 'No notes.'}</p>
          ) : (
            <ul ref={listRef} class="note-list" aria-label="Notes">
              {shown.map((entry, index) => (
                <NoteRow key={entry.note.noteId} note={entry.note} index={index} onOpen={(noteId) => go({ mode: 'read', noteId })} />
              ))}
            </ul>
          )}
          {matches.length > shown.length && (
            <button
              type="button"
              class="show-more"
              onClick={() => {
                focusIndex.current = limit;
                setLimit(limit + PAGE_SIZE);
              }}
            >
              Show {Math.min(PAGE_SIZE, matches.length - shown.length).toLocaleString('en-US')} more ({shown.length.toLocaleString('en-US')} of {matches.length.toLocaleString('en-US')} shown)
            </button>
          )}
        </>
      )}
      {readable && !group.removed && list.data && list.data.length > 0 && <ExportNotes groupId={groupId} />}
    </section>
  );
}

function NoteRow({ note, index, onOpen }: { note: ListedNoteView; index: number; onOpen: (noteId: string) => void }) {
  const metaId = `meta-${note.noteId}`;
  if (!note.ok) {
    return (
      <li class="note-item note-failed">
        <p class="note-title">
          <span aria-hidden="true">⚠</span> {note.title ? `“${note.title.trim() || 'Untitled'}” cannot be read` : 'This note cannot be read'}
        </p>
        <p>{note.message}</p>
        <p>
          <strong>What to do: </strong>
          {note.action}
        </p>
        <p class="note-meta">Written by {note.authorName}</p>
      </li>
    );
  }
  return (
    <li class="note-item">
      <button type="button" class="note-row" data-note={note.noteId} data-index={index} aria-describedby={metaId} onClick={() => onOpen(note.noteId)}>
        <span class="note-title">{note.title.trim() || 'Untitled'}</span>
      </button>
      <p class="note-meta" id={metaId}>
        <span>by {note.authorName}</span> <TrustBadge trust={note.authorTrust} name={note.authorName} />{' '}
        <time dateTime={new Date(note.at).toISOString()} title={formatFull(note.at)}>
          {formatWhen(note.at)}
        </time>
      </p>
      <NoteFlags flags={note.flags} compact />
    </li>
  );
}
