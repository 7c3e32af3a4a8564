/**
 * Meta notes (DESIGN §5): names never reach the server in plaintext. A group's name and
 * each member's display name travel as encrypted notes in the group, written and read
 * like any note; every client derives the same ids and reads the same bodies.
 *
 * - Title `conclave:meta:v1`, body JSON `{kind: 'group-name', name}` (written by an
 *   admin) or `{kind: 'profile', name}` (written by the member it names).
 * - One note id per kind and member, derived from the group's generation-0 seed with
 *   HKDF under `LABELS.metaNoteId`, so edits are new versions of the same note and the
 *   server cannot tell a meta note from any other. Only members holding a key can
 *   derive the ids (every key holder reaches seed 0 through the chain).
 * - A meta note counts only when its id is the one derived for its kind and author
 *   (`metaAuthorAllowed`): nobody can publish a name for someone else, and a note that
 *   merely has the title is not taken for one. Clients hide meta notes from lists,
 *   search and unread counts.
 */
import { z } from 'zod';
import { labelled } from '../protocol/canonical.ts';
import { toBase64url } from '../protocol/encoding.ts';
import type { Fingerprint, GroupId, NoteId } from '../protocol/ids.ts';
import { personOfDevice, type GroupState } from './group-log.ts';
import { LABELS } from './labels.ts';
import { hkdfSha256 } from './primitives.ts';

export const META_TITLE = 'conclave:meta:v1';
/** Titles a person may not give a note of their own. */
export const RESERVED_TITLE_PREFIX = 'conclave:meta:';

export type MetaKind = 'group-name' | 'profile';

const metaBodySchema = z.strictObject({ kind: z.enum(['group-name', 'profile']), name: z.string().trim().min(1).max(80) });
export type MetaBody = z.infer<typeof metaBodySchema>;

/** Which meta note an id stands for. */
export interface MetaSlot {
  kind: MetaKind;
  /** The member a profile belongs to; null for the group's name. */
  member: Fingerprint | null;
}

/**
 * The note id of one meta note (HKDF-SHA256, RFC 5869, info `LABELS.metaNoteId`).
 * `seed0` is the group's generation-0 seed (every key holder has it).
 */
export async function metaNoteId(seed0: Uint8Array, groupId: GroupId, slot: MetaSlot): Promise<NoteId> {
  const info = labelled(LABELS.metaNoteId, { groupId, kind: slot.kind, member: slot.member ?? '' });
  return toBase64url(await hkdfSha256(seed0, new Uint8Array(0), info, 16)) as NoteId;
}

/** Every meta note id of a group: its name, and a profile per member (present or departed). */
export async function metaIndex(seed0: Uint8Array, state: GroupState): Promise<Map<NoteId, MetaSlot>> {
  const slots: MetaSlot[] = [{ kind: 'group-name', member: null }];
  for (const fingerprint of [...state.members.keys(), ...state.departed.keys()]) slots.push({ kind: 'profile', member: fingerprint });
  const ids = await Promise.all(slots.map((slot) => metaNoteId(seed0, state.groupId, slot)));
  return new Map(ids.map((id, i) => [id, slots[i]!]));
}

/** The body of a meta note. */
export function metaBody(kind: MetaKind, name: string): string {
  return JSON.stringify({ kind, name });
}

/** The body of a meta note, or null when it is not one this version understands. */
export function parseMetaBody(body: string): MetaBody | null {
  try {
    const parsed = metaBodySchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Whether a meta note's author may say what it says: a profile only by the member it
 * names; the group's name only by someone who is an admin now, or created the group.
 * Profiles, admins and the creator are people: `author` is the note's author device
 * (any device of the person counts; the note was checked against its generation), or
 * the person id it was already resolved to.
 */
export function metaAuthorAllowed(state: GroupState, slot: MetaSlot, author: Fingerprint): boolean {
  // A person's founding device may be unknown to this log (unlinked before they joined): their id still names them.
  const person = personOfDevice(state, author) ?? (state.members.has(author) || state.departed.has(author) ? author : undefined);
  if (person === undefined) return false;
  if (slot.kind === 'profile') return slot.member === person;
  return state.members.get(person)?.role === 'admin' || state.creator === person;
}
