/**
 * The names that travel in meta notes (@conclave/shared/crypto meta-notes.ts): learning them from notes
 * the cache just opened (note-cache.ts), publishing this device's own profile, and
 * writing the group's name.
 */
import { NoteConflictError } from '@conclave/shared/client';
import type { OpenedNote } from '@conclave/shared/client';
import { META_TITLE, metaAuthorAllowed, metaBody, parseMetaBody, type GroupState, type MetaSlot } from '@conclave/shared/crypto';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { loadIdentity } from '../db/identity.ts';
import { groupRowOf, updateGroupRow } from '../db/key-store.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { cachedNote, keepNewer, openedRow } from './note-rows.ts';

const WRITE_ATTEMPTS = 3;

/** The note id of one meta note of a group (the SDK derives them from this device's keys), or undefined while it holds no key. */
async function metaIdOf(connection: Connection, groupId: GroupId, slot: MetaSlot): Promise<NoteId | undefined> {
  for (const [id, s] of await connection.client.metaNotes(groupId)) if (s.kind === slot.kind && s.member === slot.member) return id;
  return undefined;
}

/**
 * Learns names from meta notes this device has just opened (each newer than what it
 * had cached): a profile counts only from the member it names, the group's name only
 * from an admin or the creator, and only a body this version understands.
 * @returns true when a name (of the group or a member) changed.
 */
export async function learnFromMeta(ctx: Ctx, groupId: GroupId, state: GroupState, meta: Map<NoteId, MetaSlot>, opened: OpenedNote[]): Promise<boolean> {
  let changed = false;
  for (const note of opened) {
    const slot = meta.get(note.noteId);
    if (!slot || note.deleted || note.title !== META_TITLE || !metaAuthorAllowed(state, slot, note.author)) continue;
    const body = parseMetaBody(note.body);
    if (!body || body.kind !== slot.kind) continue;
    if (body.kind === 'profile') changed = (await ctx.trust.learnName(note.author, body.name)) || changed;
    else {
      const row = await groupRowOf(ctx.db, groupId);
      if (row && row.name !== body.name) {
        await updateGroupRow(ctx.db, groupId, { name: body.name });
        changed = true;
      }
    }
  }
  return changed;
}

/** Writes a new version of a meta note (the first, or the one after the newest). */
async function writeMeta(ctx: Ctx, connection: Connection, groupId: GroupId, slot: MetaSlot, name: string): Promise<void> {
  const noteId = await metaIdOf(connection, groupId, slot);
  if (!noteId) return;
  let version = ((await cachedNote(ctx, groupId, noteId))?.version ?? 0) + 1;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    try {
      const written = await connection.client.writeNote(groupId, { title: META_TITLE, body: metaBody(slot.kind, name) }, { noteId, version });
      await keepNewer(ctx, [openedRow(groupId, { noteId, version: written.version, title: META_TITLE, author: connection.identity.fingerprint, at: ctx.now(), deleted: false }, slot)]);
      return;
    } catch (error) {
      if (!(error instanceof NoteConflictError)) throw error;
      version = error.currentVersion + 1;
    }
  }
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
  if (!row.state.members.has(me)) return;
  const memo = `${groupId}|${identity.displayName}`;
  if (ctx.profilesChecked.has(memo)) return;
  const slot: MetaSlot = { kind: 'profile', member: me };
  const noteId = await metaIdOf(connection, groupId, slot);
  if (!noteId) return;
  let current: string | null = null;
  try {
    const opened = await connection.client.readNote(groupId, noteId);
    await keepNewer(ctx, [openedRow(groupId, opened, slot)]);
    current = opened.author === me ? (parseMetaBody(opened.body)?.name ?? null) : null;
  } catch {
    // Not written yet (or unreadable): write it.
  }
  if (current !== identity.displayName) await writeMeta(ctx, connection, groupId, slot, identity.displayName);
  await ctx.trust.learnName(me, identity.displayName);
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
  if (!row || !row.name || row.removed || row.alarm || !holdsCurrentKey(row) || row.state.members.get(me)?.role !== 'admin') return;
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
