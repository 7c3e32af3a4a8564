/**
 * Names from meta notes (shared/src/crypto/meta-notes.ts): the group's name and each
 * member's display name travel as encrypted notes, so the CLI learns them from the
 * group's notes and publishes its own profile once it holds the key — as the extension
 * does, so both show the same names. Which names the notes carry, and publishing with
 * the retry after a concurrent write, are the SDK's (`ChangedNotes.names`,
 * `NoteList.names`, `GroupClient.publishMeta`); this module keeps them in the CLI's name book.
 */
import type { ChangedNotes, ListedNote, MetaNames, OpenedNote } from '@conclave/shared/client';
import type { MetaSlot } from '@conclave/shared/crypto';
import { currentGeneration } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Device } from './device.ts';
import { myMember } from './people.ts';

/** Keeps the names the SDK read from a listing's meta notes (who may write each already applied), when newer than what this device knows. */
async function learnNames(device: Device, groupId: GroupId, names: MetaNames): Promise<void> {
  const groups: Array<{ groupId: GroupId; name: string; version: number }> = [];
  const members: Array<{ groupId: GroupId; fingerprint: Fingerprint; name: string; version: number }> = [];
  const known = device.names.groupNameVersion(groupId);
  if (names.groupName && (known === undefined || names.groupName.version > known)) groups.push({ groupId, ...names.groupName });
  for (const [fingerprint, found] of names.profiles) {
    const version = device.names.memberNameVersion(groupId, fingerprint);
    if (version === undefined || found.version > version) members.push({ groupId, fingerprint, ...found });
  }
  await device.names.learn({ groups, members });
}

/** Learns the names a `changedNotes` call read from the group's meta notes. */
export function learnNamesFrom(device: Device, groupId: GroupId, changes: Pick<ChangedNotes, 'names'>): Promise<void> {
  return learnNames(device, groupId, changes.names);
}

/** Lists a group's notes and learns names from its meta notes; returns the listing without them. */
export async function listWithNames(device: Device, groupId: GroupId): Promise<{ notes: ListedNote[]; meta: Map<NoteId, MetaSlot> }> {
  const client = await device.client();
  const { notes, names } = await client.listNotes(groupId);
  const meta = await client.metaNotes(groupId);
  await learnNames(device, groupId, names);
  await publishProfile(device, groupId);
  return { notes: notes.filter((n) => !meta.has(n.noteId)), meta };
}

/**
 * Every note of a group opened once, bodies included, after one log sync (the SDK's
 * `changedNotes` from cursor 0, which also reports notes that failed or vanished);
 * learns names from its meta notes and publishes this device's profile. `notes` leaves
 * the meta notes out.
 * @throws the SDK's `no-key` / `not-member` (`GroupClientError`), a log that does not verify.
 */
export async function openAllWithNames(device: Device, groupId: GroupId): Promise<{ changes: ChangedNotes; notes: OpenedNote[] }> {
  const client = await device.client();
  const changes = await client.changedNotes(groupId, 0);
  await learnNames(device, groupId, changes.names);
  await publishProfile(device, groupId);
  return { changes, notes: changes.opened.filter((n) => !changes.meta.has(n.noteId)) };
}

/** Writes a new version of a meta note (the SDK retries after a concurrent write); the version written, or null. */
async function writeMeta(device: Device, groupId: GroupId, slot: MetaSlot, name: string): Promise<number | null> {
  const client = await device.client();
  return (await client.publishMeta(groupId, slot, name))?.version ?? null;
}

/** Publishes the group's name (an admin names or renames it). */
export async function writeGroupName(device: Device, groupId: GroupId, name: string): Promise<void> {
  const version = await writeMeta(device, groupId, { kind: 'group-name', member: null }, name);
  if (version !== null) await device.names.learn({ groups: [{ groupId, name, version }] });
}

/**
 * Publishes the display name of the person this device speaks for in the group once it
 * holds the key (and again after a rename). The profile belongs to the person: any of
 * their devices writes the same slot.
 */
export async function publishProfile(device: Device, groupId: GroupId): Promise<void> {
  if (device.names.published(groupId) === device.displayName) return;
  const record = await device.store.load(groupId);
  const me = record && myMember(record.state, device);
  if (!record || !me || !record.seeds.has(currentGeneration(record.state))) return;
  // Another device of the person already published this name here (a device just linked): nothing to write.
  if (device.names.memberNameVersion(groupId, me.fingerprint) !== undefined && device.names.memberName(me.fingerprint) === device.displayName) {
    await device.names.learn({ published: [{ groupId, name: device.displayName }] });
    return;
  }
  const version = await writeMeta(device, groupId, { kind: 'profile', member: me.fingerprint }, device.displayName);
  if (version !== null) await device.names.learn({ published: [{ groupId, name: device.displayName }], members: [{ groupId, fingerprint: me.fingerprint, name: device.displayName, version }] });
}
