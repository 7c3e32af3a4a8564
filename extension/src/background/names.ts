/**
 * Listing a group's notes into the local cache, and the names that travel in meta
 * notes (see meta-notes.ts): learning them from a listing, publishing this device's
 * own profile, and writing the group's name.
 */
import { NoteConflictError } from '../../../shared/src/client/errors.ts';
import type { ListedNote } from '../../../shared/src/client/notes.ts';
import type { GroupState } from '../../../shared/src/crypto/group-log.ts';
import type { GroupId, NoteId } from '../../../shared/src/protocol/ids.ts';
import type { NoteRow } from '../db/schema.ts';
import type { Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { holdsCurrentKey } from './group-state.ts';
import { META_TITLE, metaAuthorAllowed, metaBody, metaIndex, metaNoteId, parseMetaBody, type MetaSlot } from './meta-notes.ts';

const WRITE_ATTEMPTS = 3;

/** The meta note ids of a group, or an empty map while this device holds no key. */
export async function metaIdsOf(ctx: Ctx, groupId: GroupId, state?: GroupState): Promise<Map<NoteId, MetaSlot>> {
  const row = await ctx.db.groups.get(groupId);
  const seed0 = row?.seeds.get(0);
  if (!row || !seed0) return new Map();
  return metaIndex(seed0, state ?? row.state);
}

export async function cachedNote(ctx: Ctx, groupId: GroupId, noteId: NoteId): Promise<NoteRow | undefined> {
  return ctx.db.notes.where('[groupId+noteId]').equals([groupId, noteId]).first();
}

export interface Listing {
  notes: ListedNote[];
  cursor: number;
  state: GroupState;
  meta: Map<NoteId, MetaSlot>;
  /** True when a name (of the group or a member) changed. */
  namesChanged: boolean;
}

/**
 * Lists notes changed after `since` (0: all), keeps their decrypted headers in the
 * cache (meta notes under their reserved title) and learns names from meta notes that
 * are newer than the cached ones.
 */
export async function listIntoCache(ctx: Ctx, connection: Connection, groupId: GroupId, since: number): Promise<Listing> {
  const list = await connection.client.listNotes(groupId, { since });
  const state = await connection.client.state(groupId);
  const meta = await metaIdsOf(ctx, groupId, state);
  const before = new Map((await ctx.db.notes.where('groupId').equals(groupId).toArray()).map((r) => [r.noteId, r]));
  const rows: NoteRow[] = [];
  const metaToRead: Array<{ noteId: NoteId; slot: MetaSlot; author: NoteRow['author'] }> = [];
  for (const note of list.notes) {
    if (!note.ok) continue;
    const slot = meta.get(note.noteId);
    rows.push({ groupId, noteId: note.noteId, version: note.version, title: slot ? META_TITLE : note.title, author: note.author, at: note.at, deleted: note.deleted });
    if (slot && note.title === META_TITLE && !note.deleted && (before.get(note.noteId)?.version ?? 0) < note.version) {
      metaToRead.push({ noteId: note.noteId, slot, author: note.author });
    }
  }
  await ctx.db.transaction('rw', ctx.db.notes, ctx.db.groups, async () => {
    if (since === 0) await ctx.db.notes.where('groupId').equals(groupId).delete();
    await ctx.db.notes.bulkPut(rows);
    const row = await ctx.db.groups.get(groupId);
    if (row && list.cursor > row.notesCursor) await ctx.db.groups.update(groupId, { notesCursor: list.cursor });
  });
  let namesChanged = false;
  for (const item of metaToRead) {
    if (!metaAuthorAllowed(state, item.slot, item.author)) continue;
    try {
      const opened = await connection.client.readNote(groupId, item.noteId);
      const body = opened.title === META_TITLE ? parseMetaBody(opened.body) : null;
      if (!body || body.kind !== item.slot.kind || !metaAuthorAllowed(state, item.slot, opened.author)) continue;
      if (body.kind === 'profile') namesChanged = (await ctx.trust.learnName(opened.author, body.name)) || namesChanged;
      else {
        const row = await ctx.db.groups.get(groupId);
        if (row && row.name !== body.name) {
          await ctx.db.groups.update(groupId, { name: body.name });
          namesChanged = true;
        }
      }
    } catch {
      // One unreadable meta note must not stop the listing; it is tried again next time.
      await ctx.db.notes.where('[groupId+noteId]').equals([groupId, item.noteId]).delete();
    }
  }
  return { notes: list.notes, cursor: list.cursor, state, meta, namesChanged };
}

/** Writes a new version of a meta note (the first, or the one after the newest). */
async function writeMeta(ctx: Ctx, connection: Connection, groupId: GroupId, slot: MetaSlot, name: string): Promise<void> {
  const row = await ctx.db.groups.get(groupId);
  const seed0 = row?.seeds.get(0);
  if (!row || !seed0) return;
  const noteId = await metaNoteId(seed0, groupId, slot);
  let version = ((await cachedNote(ctx, groupId, noteId))?.version ?? 0) + 1;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    try {
      const written = await connection.client.writeNote(groupId, { title: META_TITLE, body: metaBody(slot.kind, name) }, { noteId, version });
      await ctx.db.notes.put({ groupId, noteId, version: written.version, title: META_TITLE, author: connection.identity.fingerprint, at: ctx.now(), deleted: false });
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
  await ctx.db.groups.update(groupId, { name });
}

/**
 * Makes sure this device's profile note in the group carries its current name
 * (checked once per worker life and name; written when missing or different).
 */
export async function ensureProfile(ctx: Ctx, connection: Connection, groupId: GroupId): Promise<void> {
  const identity = await ctx.db.identity.get('device');
  const row = await ctx.db.groups.get(groupId);
  if (!identity || !row || row.removed || row.alarm || !holdsCurrentKey(row)) return;
  const me = connection.identity.fingerprint;
  if (!row.state.members.has(me)) return;
  const memo = `${groupId}|${identity.displayName}`;
  if (ctx.profilesChecked.has(memo)) return;
  const seed0 = row.seeds.get(0);
  if (!seed0) return;
  const slot: MetaSlot = { kind: 'profile', member: me };
  const noteId = await metaNoteId(seed0, groupId, slot);
  let current: string | null = null;
  try {
    const opened = await connection.client.readNote(groupId, noteId);
    await ctx.db.notes.put({ groupId, noteId, version: opened.version, title: META_TITLE, author: opened.author, at: opened.at, deleted: opened.deleted });
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
  const row = await ctx.db.groups.get(groupId);
  const seed0 = row?.seeds.get(0);
  const me = connection.identity.fingerprint;
  if (!row || !seed0 || !row.name || row.removed || row.alarm || !holdsCurrentKey(row) || row.state.members.get(me)?.role !== 'admin') return;
  const noteId = await metaNoteId(seed0, groupId, { kind: 'group-name', member: null });
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
