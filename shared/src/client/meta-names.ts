/**
 * Names from meta notes (DESIGN §5, shared/src/crypto/meta-notes.ts), read from notes the
 * SDK has just opened: the group's name counts only from an admin or the creator, a
 * profile only from the member it names (`metaAuthorAllowed`), and only a body this
 * version understands. Each client keeps the names where it keeps names; this module
 * only says which names the notes carry.
 */
import { personOfDevice, type GroupState } from '../crypto/group-log.ts';
import { shortFingerprint } from '../crypto/identity.ts';
import { META_TITLE, metaAuthorAllowed, parseMetaBody, type MetaSlot } from '../crypto/meta-notes.ts';
import type { Fingerprint, NoteId } from '../protocol/ids.ts';
import type { OpenedNote } from './opened-note.ts';

/** A name and the meta note version that carried it. */
export interface MetaName {
  name: string;
  version: number;
}

/** The names some opened meta notes carry (none: nothing new in them). */
export interface MetaNames {
  groupName: MetaName | null;
  profiles: Map<Fingerprint, MetaName>;
}

/** The names `opened` carries, by the rules in the module note (the newest version of each wins). */
/**
 * How a member whose name this device has not read yet is called, in every client: their
 * profile (a meta note, readable only with the group key) has not arrived. The
 * fingerprint's first groups tell them apart and can be checked with them; the words say
 * why there is no name.
 */
export function unnamedMemberLabel(fingerprint: Fingerprint): string {
  return `Member ${shortFingerprint(fingerprint)} (name not known yet)`;
}

export function namesFromMeta(state: GroupState, meta: ReadonlyMap<NoteId, MetaSlot>, opened: readonly OpenedNote[]): MetaNames {
  const names: MetaNames = { groupName: null, profiles: new Map() };
  for (const note of opened) {
    const slot = meta.get(note.noteId);
    // Names belong to people: a note by any device of the person counts as theirs.
    const author = personOfDevice(state, note.author) ?? note.author;
    if (!slot || note.deleted || note.title !== META_TITLE || !metaAuthorAllowed(state, slot, author)) continue;
    const body = parseMetaBody(note.body);
    if (!body || body.kind !== slot.kind) continue;
    const found = { name: body.name, version: note.version };
    if (slot.kind === 'group-name') {
      if (!names.groupName || names.groupName.version < found.version) names.groupName = found;
    } else if (slot.member) {
      const known = names.profiles.get(slot.member);
      if (!known || known.version < found.version) names.profiles.set(slot.member, found);
    }
  }
  return names;
}
