/**
 * The names that travel in meta notes (@conclave/shared/crypto meta-notes.ts): learning them from notes
 * the cache just opened (note-cache.ts), publishing this device's own profile, and
 * writing the group's name.
 */
import type { MetaNames } from '@conclave/shared/client';
import { isAdmin, META_TITLE, parseMetaBody, type MetaSlot } from '@conclave/shared/crypto';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { loadIdentity } from '../db/identity.ts';
import { groupRowOf, updateGroupRow } from '../db/key-store.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { cachedNote, keepNewer, openedRow } from './note-rows.ts';
import { myPerson, personFor } from './people.ts';

/** The note id of one meta note of a group (the SDK derives them from this device's keys), or undefined while it holds no key. */
async function metaIdOf(connection: Connection, groupId: GroupId, slot: MetaSlot): Promise<NoteId | undefined> {
  for (const [id, s] of await connection.client.metaNotes(groupId)) if (s.kind === slot.kind && s.member === slot.member) return id;
  return undefined;
}

/**
 * Keeps the names the SDK read from meta notes it has just opened (`ChangedNotes.names`:
 * who may write each already applied there).
 * @returns true when a name (of the group or a member) changed.
 */
export async function learnFromMeta(ctx: Ctx, groupId: GroupId, names: MetaNames): Promise<boolean> {
  let changed = false;
  for (const [member, { name }] of names.profiles) changed = (await ctx.trust.learnName(member, name)) || changed;
  if (names.groupName) {
    const row = await groupRowOf(ctx.db, groupId);
    if (row && row.name !== names.groupName.name) {
      await updateGroupRow(ctx.db, groupId, { name: names.groupName.name });
      changed = true;
    }
  }
  return changed;
}

/** Writes a new version of a meta note through the SDK (which retries after a concurrent write) and caches it. */
async function writeMeta(ctx: Ctx, connection: Connection, groupId: GroupId, slot: MetaSlot, name: string): Promise<void> {
  const written = await connection.client.publishMeta(groupId, slot, name);
  if (!written) return;
  await keepNewer(ctx, [openedRow(groupId, { noteId: written.noteId, version: written.version, title: META_TITLE, author: connection.identity.fingerprint, at: ctx.now(), deleted: false }, slot)]);
}

/** Publishes the group's name (an admin names or renames it). */
export async function writeGroupName(ctx: Ctx, connection: Connection, groupId: GroupId, name: string): Promise<void> {
  await writeMeta(ctx, connection, groupId, { kind: 'group-name', member: null }, name);
  await updateGroupRow(ctx.db, groupId, { name });
}

/**
 * Makes sure this device's profile note in the group carries its current name
 * (checked once per worker life and name; written when missing or different).
 */
export async function ensureProfile(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<void> {
  const identity = await loadIdentity(ctx.db);
  const row = await groupRowOf(ctx.db, groupId);
  if (!identity || !row || row.removed || row.alarm || !holdsCurrentKey(row)) return;
  const me = connection.identity.fingerprint;
  // The profile is the person's: any of their devices keeps it current.
  const person = myPerson(row.state, me);
  if (!person) return;
  const memo = `${groupId}|${identity.displayName}`;
  if (ctx.profilesChecked.has(memo)) return;
  const slot: MetaSlot = { kind: 'profile', member: person };
  const noteId = await metaIdOf(connection, groupId, slot);
  if (!noteId) return;
  let current: string | null = null;
  try {
    const opened = await connection.client.readNote(groupId, noteId);
    await keepNewer(ctx, [openedRow(groupId, opened, slot)]);
    current = personFor(row.state, opened.author) === person ? (parseMetaBody(opened.body)?.name ?? null) : null;
  } catch {
    // Not written yet (or unreadable): write it.
  }
  if (current !== identity.displayName) await writeMeta(ctx, connection, groupId, slot, identity.displayName);
  await ctx.trust.learnName(person, identity.displayName);
  ctx.profilesChecked.add(memo);
}

/**
 * Makes sure the group's name is published when this admin knows it and no name note
 * exists yet (the first write after creating the group may have failed).
 */
export async function ensureGroupName(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<void> {
  const memo = `group-name|${groupId}`;
  if (ctx.profilesChecked.has(memo)) return;
  const row = await groupRowOf(ctx.db, groupId);
  const me = connection.identity.fingerprint;
  if (!row || !row.name || row.removed || row.alarm || !holdsCurrentKey(row) || !isAdmin(row.state, me)) return;
  const noteId = await metaIdOf(connection, groupId, { kind: 'group-name', member: null });
  if (!noteId) return;
  if (!(await cachedNote(ctx, groupId, noteId))) {
    let exists = false;
    try {
      await connection.client.readNote(groupId, noteId);
      exists = true;
    } catch {
      // Not written yet.
    }
    if (!exists) await writeGroupName(ctx, connection, groupId, row.name);
  }
  ctx.profilesChecked.add(memo);
}
