/**
 * Groups, members and notes named on the command line: an exact id, an id prefix (at
 * least 4 characters) or a name, when exactly one matches. Several matches are a usage
 * error that lists them; none is "not found" with the command that shows what exists.
 */
import { devicesOf, shortFingerprint, type GroupState } from '@conclave/shared/crypto';
import type { ListedNote } from '@conclave/shared/client';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Device } from './device.ts';
import { CliError, EXIT } from './errors.ts';

function same(a: string, b: string): boolean {
  return a.trim().toLocaleLowerCase() === b.trim().toLocaleLowerCase();
}

function pick<T>(what: string, ref: string, candidates: T[], exact: (c: T) => boolean, prefix: (c: T) => boolean, named: (c: T) => boolean, label: (c: T) => string, hint: string): T {
  const exactly = candidates.filter(exact);
  if (exactly.length === 1) return exactly[0]!;
  const byName = candidates.filter(named);
  if (byName.length === 1) return byName[0]!;
  const byPrefix = ref.length >= 4 ? candidates.filter(prefix) : [];
  const matches = [...new Set([...byName, ...byPrefix])];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new CliError(EXIT.usage, `"${ref}" matches ${matches.length} ${what}s: ${matches.map(label).join('; ')}. Use more of the id.`);
  throw new CliError(EXIT.notFound, `no ${what} "${ref}" ${what === 'group' ? 'on this device' : what === 'member' ? 'in this group' : 'in this group'}: ${hint}`);
}

export async function resolveGroup(device: Device, ref: string): Promise<GroupId> {
  const ids = await device.store.groups();
  return pick(
    'group',
    ref,
    ids,
    (id) => id === ref,
    (id) => id.startsWith(ref),
    (id) => {
      const name = device.names.groupName(id);
      return name !== undefined && same(name, ref);
    },
    (id) => `${device.names.groupName(id) ?? '(unnamed)'} ${id}`,
    '`conclave group list` shows the groups it knows (join, create or restore one first).',
  );
}

/**
 * A member (a person, by id): their fingerprint — or the fingerprint of any of their
 * current devices — in full or as a prefix, or their display name.
 */
export function resolveMember(device: Device, state: GroupState, ref: string): Fingerprint {
  const members = [...state.members.keys()].filter((fp) => fp !== state.recovery);
  const lower = ref.replace(/\s+/g, '').toLowerCase();
  const ids = (person: Fingerprint) => [person, ...devicesOf(state, person).map((d) => d.fingerprint)];
  return pick(
    'member',
    ref,
    members,
    (fp) => ids(fp).includes(lower as Fingerprint),
    (fp) => ids(fp).some((id) => id.startsWith(lower)),
    (fp) => {
      const name = device.names.memberName(fp);
      return name !== undefined && same(name, ref);
    },
    (fp) => `${device.names.memberName(fp) ?? 'unnamed'} (${shortFingerprint(fp)})`,
    '`conclave group members <group>` lists them (a member\'s name shows once they hold the key and published it; use their fingerprint before that).',
  );
}

export function resolveNote(notes: readonly ListedNote[], ref: string): ListedNote {
  return pick(
    'note',
    ref,
    notes.filter((n) => !(n.ok && n.deleted)),
    (n) => n.noteId === ref,
    (n) => n.noteId.startsWith(ref),
    (n) => n.ok && same(n.title, ref),
    (n) => `${n.ok ? `"${n.title}"` : '(unreadable)'} ${n.noteId}`,
    '`conclave notes ls <group>` lists the notes.',
  );
}

export type { NoteId };
