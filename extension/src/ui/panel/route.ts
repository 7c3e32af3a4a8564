/**
 * Where the person is in one group's side panel (view, open note, a new note), kept in
 * the `panel.route.<groupId>` draft so closing the panel loses nothing. Its own module:
 * PanelApp renders the views that move it, and they import it from here, not from
 * PanelApp (which would be an import circle).
 */
export interface Route {
  view: 'notes' | 'members';
  /** 'history': the open note's versions (NoteHistory). */
  mode: 'list' | 'read' | 'edit' | 'history';
  /** The open note; null with mode 'edit' is a new note. */
  noteId: string | null;
}

/** A group opened for the first time: its notes, listed. */
export const START_ROUTE: Route = { view: 'notes', mode: 'list', noteId: null };

/** Moves the route: only the fields given change. */
export type Go = (next: Partial<Route>) => void;
