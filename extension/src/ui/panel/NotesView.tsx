/**
 * The notes of one group: the list (with local title search), one note read, or one
 * note being written. Which of them is shown lives in the panel's route draft.
 */
import { useRef } from 'preact/hooks';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import type { GroupSummary } from '../../messages/views.ts';
import { NoteEditor } from './NoteEditor.tsx';
import { NoteHistory } from './NoteHistory.tsx';
import { NoteReader } from './NoteReader.tsx';
import { NotesList } from './NotesList.tsx';
import type { Go, Route } from './route.ts';

export interface NotesViewProps {
  groupId: GroupId;
  group: GroupSummary;
  route: Route;
  go: Go;
}

export function NotesView({ groupId, group, route, go }: NotesViewProps) {
  // A group whose history was found forked takes no new notes (the background refuses them too).
  const canWrite = group.hasKey && !group.removed && !group.alarm;
  // An open editor stays open while the key is briefly missing (a rotation's log is synced
  // before its box is opened): unmounting it would lose keystrokes and move the focus.
  const editing = useRef(false);
  // The group whose list this view showed last: coming back to it (from a note, the
  // editor, a history) is a return; the first list of a group is not. Owned here, the
  // parent of every view of a group's notes, so nothing is kept between groups or mounts.
  const listShownFor = useRef<GroupId | null>(null);
  editing.current = route.mode === 'edit' && (canWrite || (editing.current && !group.removed && !group.alarm));
  if (editing.current) return <NoteEditor key={route.noteId ?? 'new'} groupId={groupId} noteId={route.noteId as NoteId | null} go={go} waitingForKey={!group.hasKey} />;
  if (route.mode === 'history' && route.noteId && !group.removed) return <NoteHistory key={route.noteId} groupId={groupId} noteId={route.noteId as NoteId} canWrite={canWrite} go={go} />;
  // A device removed meanwhile cannot fetch the versions: it shows the note it kept.
  if ((route.mode === 'read' || route.mode === 'history') && route.noteId) return <NoteReader key={route.noteId} groupId={groupId} noteId={route.noteId as NoteId} canWrite={canWrite} canSeeHistory={!group.removed} go={go} />;
  const returning = listShownFor.current === groupId;
  listShownFor.current = groupId;
  return <NotesList groupId={groupId} group={group} canWrite={canWrite} go={go} lastOpened={route.noteId} returning={returning} />;
}
