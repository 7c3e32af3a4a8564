/**
 * A note version as the client gives it once opened (notes.ts opens it): its own module
 * so errors.ts can name it (a conflict carries their version) without an import circle.
 */
import type { NotePlaintext } from '../crypto/note-envelope.ts';
import type { Fingerprint, NoteId } from '../protocol/ids.ts';

/** A note version this device opened: signature checked, title and body decrypted. */
export interface OpenedNote extends NotePlaintext {
  noteId: NoteId;
  version: number;
  generation: number;
  author: Fingerprint;
  /** The author's clock when writing (signed, not verified against anything). */
  at: number;
  deleted: boolean;
  /** What this device noticed about how the server served it (empty: nothing). */
  warnings: NoteWarning[];
}

/**
 * A note shown, but with something to say about it:
 * - `rolled-back`: the server served this version as the newest, but this device has
 *   already seen `seenVersion`, a newer one;
 * - `late-from-departed`: written by a device that no longer speaks for anyone here (its
 *   member left or was removed, or its owner unlinked it: `how`), at a generation it
 *   held, and this device — tracking the group before it departed (log entry
 *   `departedSeq`) — did not see it before it did.
 */
export type NoteWarning =
  | { code: 'rolled-back'; message: string; seenVersion: number }
  | { code: 'late-from-departed'; message: string; author: Fingerprint; departedSeq: number; how: 'removed' | 'left' | 'replaced' | 'unlinked' };
export type NoteWarningCode = NoteWarning['code'];

