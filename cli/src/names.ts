/**
 * Names from meta notes (shared/src/crypto/meta-notes.ts): the group's name and each
 * member's display name travel as encrypted notes, so the CLI learns them from the
 * group's notes and publishes its own profile once it holds the key — as the extension
 * does, so both show the same names.
 */
import { NoteConflictError, type ChangedNotes, type ListedNote, type OpenedNote } from '@conclave/shared/client';
import { META_TITLE, metaAuthorAllowed, metaBody, metaIndex, metaNoteId, parseMetaBody, type MetaSlot } from '@conclave/shared/crypto';
import { currentGeneration } from '@conclave/shared/crypto';
import type { GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Device } from './device.ts';

const WRITE_ATTEMPTS = 3;

/** The meta note ids of a group, or an empty map while this device holds no key of it. */
export async function metaIds(device: Device, groupId: GroupId): Promise<Map<NoteId, MetaSlot>> {
  const record = await device.store.load(groupId);
  const seed0 = record?.seeds.get(0);
  return record && seed0 ? metaIndex(seed0, record.state) : new Map();
}

/** Learns names from the meta notes of a listing that are newer than what this device knows. */
export async function learnNames(device: Device, groupId: GroupId, listed: readonly ListedNote[], meta: Map<NoteId, MetaSlot>): Promise<void> {
  if (meta.size === 0) return;
  const client = await device.client();
  const state = await client.state(groupId);
  const groups: Array<{ groupId: GroupId; name: string; version: number }> = [];
  const members: Array<{ groupId: GroupId; fingerprint: Fingerprint; name: string; version: number }> = [];
  for (const note of listed) {
    const slot = meta.get(note.noteId);
    if (!slot || !note.ok || note.deleted || note.title !== META_TITLE || !metaAuthorAllowed(state, slot, note.author)) continue;
    const knownVersion = slot.kind === 'group-name' ? device.names.groupNameVersion(groupId) : device.names.memberNameVersion(groupId, slot.member!);
    if (knownVersion !== undefined && note.version <= knownVersion) continue;
    let body;
    try {
      body = parseMetaBody((await client.readNote(groupId, note.noteId, note.version)).body);
    } catch {
      continue;
    }
    if (!body || body.kind !== slot.kind) continue;
    if (slot.kind === 'group-name') groups.push({ groupId, name: body.name, version: note.version });
    else members.push({ groupId, fingerprint: slot.member!, name: body.name, version: note.version });
  }
  await device.names.learn({ groups, members });
}

/** Lists a group's notes and learns names from its meta notes; returns the listing without them. */
export async function listWithNames(device: Device, groupId: GroupId): Promise<{ notes: ListedNote[]; meta: Map<NoteId, MetaSlot> }> {
  const client = await device.client();
  const { notes } = await client.listNotes(groupId);
  const meta = await metaIds(device, groupId);
  await learnNames(device, groupId, notes, meta);
  await publishProfile(device, groupId);
  return { notes: notes.filter((n) => !meta.has(n.noteId)), meta };
}

/** Learns names from meta notes already opened with their bodies (nothing fetched). */
function learnFromOpened(device: Device, groupId: GroupId, state: GroupState, opened: readonly OpenedNote[], meta: Map<NoteId, MetaSlot>): Promise<void> {
  const groups: Array<{ groupId: GroupId; name: string; version: number }> = [];
  const members: Array<{ groupId: GroupId; fingerprint: Fingerprint; name: string; version: number }> = [];
  for (const note of opened) {
    const slot = meta.get(note.noteId);
    if (!slot || note.deleted || note.title !== META_TITLE || !metaAuthorAllowed(state, slot, note.author)) continue;
    const knownVersion = slot.kind === 'group-name' ? device.names.groupNameVersion(groupId) : device.names.memberNameVersion(groupId, slot.member!);
    if (knownVersion !== undefined && note.version <= knownVersion) continue;
    const body = parseMetaBody(note.body);
    if (!body || body.kind !== slot.kind) continue;
    if (slot.kind === 'group-name') groups.push({ groupId, name: body.name, version: note.version });
    else members.push({ groupId, fingerprint: slot.member!, name: body.name, version: note.version });
  }
  return device.names.learn({ groups, members });
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
  await learnFromOpened(device, groupId, changes.state, changes.opened, changes.meta);
  await publishProfile(device, groupId);
  return { changes, notes: changes.opened.filter((n) => !changes.meta.has(n.noteId)) };
}

/** Writes a new version of a meta note (the first, or the one after the newest). */
async function writeMeta(device: Device, groupId: GroupId, slot: MetaSlot, name: string): Promise<number | null> {
  const record = await device.store.load(groupId);
  const seed0 = record?.seeds.get(0);
  if (!record || !seed0) return null;
  const client = await device.client();
  const noteId = await metaNoteId(seed0, groupId, slot);
  let version = 1;
  try {
    version = (await client.readNote(groupId, noteId)).version + 1;
  } catch {
    // Not written yet.
  }
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    try {
      return (await client.writeNote(groupId, { title: META_TITLE, body: metaBody(slot.kind, name) }, { noteId, version })).version;
    } catch (error) {
      if (!(error instanceof NoteConflictError)) throw error;
      version = error.currentVersion + 1;
    }
  }
  return null;
}

/** Publishes the group's name (an admin names or renames it). */
export async function writeGroupName(device: Device, groupId: GroupId, name: string): Promise<void> {
  const version = await writeMeta(device, groupId, { kind: 'group-name', member: null }, name);
  if (version !== null) await device.names.learn({ groups: [{ groupId, name, version }] });
}

/** Publishes this device's display name in the group once it holds the key (and again after a rename). */
export async function publishProfile(device: Device, groupId: GroupId): Promise<void> {
  if (device.names.published(groupId) === device.displayName) return;
  const record = await device.store.load(groupId);
  if (!record || !record.state.members.has(device.fingerprint) || !record.seeds.has(currentGeneration(record.state))) return;
  const version = await writeMeta(device, groupId, { kind: 'profile', member: device.fingerprint }, device.displayName);
  if (version !== null) await device.names.learn({ published: [{ groupId, name: device.displayName }], members: [{ groupId, fingerprint: device.fingerprint, name: device.displayName, version }] });
}
