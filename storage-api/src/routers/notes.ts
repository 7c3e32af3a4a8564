/**
 * Notes (DESIGN §5): signed envelopes of ciphertext, kept as versions with
 * compare-and-set, so concurrent edits never silently overwrite each other.
 *
 * `put` takes `{envelope}` alone: the group is the envelope's own `groupId` (the member
 * check in trpc/init.ts reads it from there), so the signed envelope is the single
 * source of truth and cannot be filed under another group.
 *
 * Deleting a note is putting its next version with `deleted: true` (signed by the
 * author like any version; its title and body may be empty ciphertexts). Older
 * versions stay readable by members; listing shows the newest version, deleted or not.
 */
import {
  base64urlByteLength,
  currentGeneration,
  noteGetInput,
  noteListInput,
  notePutInput,
  noteVersionHash,
  verifyNoteSignature,
  type EntryHash,
  type Fingerprint,
  type GroupId,
  type GroupState,
  type NoteEnvelope,
  type NoteHeader,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { isUnlinked } from '../services/device-standing.ts';
import type { Context } from '../trpc/context.ts';
import { memberForDevice, memberProcedure, notAMemberDevice, noteReaderProcedure, router } from '../trpc/init.ts';

/** What `put` checks against a group state, in order; the refusal, if any. */
async function checkPut(state: GroupState, device: Fingerprint, envelope: NoteEnvelope): Promise<void> {
  if (envelope.groupId !== state.groupId) throw apiError('BAD_REQUEST', 'the envelope names another group');
  if (envelope.author !== device) throw apiError('FORBIDDEN', 'a note version must be authored and signed by the signed-in device');
  const generation = currentGeneration(state);
  if (envelope.generation !== generation) {
    throw apiError(
      'NOTE_REJECTED',
      `the note is sealed with generation ${envelope.generation}, but the group is at generation ${generation}: sync the group log, fetch the current key and seal the note again`,
    );
  }
  // The body's size was checked before the schema (memberProcedure: PAYLOAD_TOO_LARGE).
  // The author is a device: the member check made sure it is a current device of a member.
  const author = state.devices.get(device)!;
  if (!(await verifyNoteSignature(envelope, author.signKey))) {
    throw apiError('NOTE_REJECTED', "the note's signature does not verify under the author's key: seal and sign the note again");
  }
}

/**
 * The group's state now, for a put whose checked state went stale before it could
 * commit: refused as the member check refuses, if the log has removed the device since.
 */
async function currentMemberState(ctx: Context, groupId: GroupId, device: Fingerprint): Promise<GroupState> {
  const state = await ctx.groups.stateOf(groupId);
  if (!state) throw apiError('NOT_FOUND', 'no group with this id is stored here: check the group id');
  memberForDevice(state, device, await isUnlinked(ctx.store, device));
  return state;
}

/** How many times a put is tried against a group head before CONFLICT: each stale try means a log append committed meanwhile. */
export const NOTE_PUT_TRIES = 3;

export const notesRouter = router({
  /**
   * Stores version `envelope.version` of a note: by its author (the signed-in device),
   * sealed with the group's current generation (so a removed member's old key cannot
   * write), within the size limit, with a valid signature, and exactly one past the
   * stored version (else CONFLICT with `currentVersion`), naming the stored previous
   * version's hash in `prev` (defence in depth: clients check the chain themselves).
   * The write commits only if the group's head is still the one these checks were made
   * against; if the log moved in between, the checks run again on the new state.
   * Returns the list cursor of this change.
   */
  put: memberProcedure.input(notePutInput).mutation(async ({ ctx, input }) => {
    const { envelope } = input;
    let state = ctx.group;
    await checkPut(state, ctx.device, envelope);
    if ((envelope.version === 1) !== (envelope.prev === null)) {
      throw apiError('NOTE_REJECTED', envelope.version === 1 ? 'version 1 of a note names no previous version: set prev to null' : `version ${envelope.version} must name the hash of version ${envelope.version - 1} in prev`);
    }
    if (envelope.version > 1) {
      // A missing previous version is left to the compare-and-set below (CONFLICT with the stored version).
      const before = await ctx.store.getNote(state.groupId, envelope.noteId, envelope.version - 1);
      if (before && envelope.prev !== (await noteVersionHash(before))) {
        throw apiError('NOTE_REJECTED', `prev is not the hash of the stored version ${envelope.version - 1}: read that version and seal the note again`);
      }
    }
    const { body: _body, ...rest } = envelope;
    const header: NoteHeader = { ...rest, bodyBytes: base64urlByteLength(envelope.body) };
    let result = await ctx.store.putNoteVersion(envelope, header, { seq: state.seq, hash: state.head as EntryHash });
    // Each retry means a log append committed in between: the appenders make progress, and the put gives up after a few.
    for (let tries = 1; !result.ok && result.staleHead; tries++) {
      if (tries >= NOTE_PUT_TRIES) throw apiError('CONFLICT', "the group's log kept changing while this note was being stored, so nothing was written: sync the group log and put the note again");
      state = await currentMemberState(ctx, state.groupId, ctx.device);
      await checkPut(state, ctx.device, envelope);
      result = await ctx.store.putNoteVersion(envelope, header, { seq: state.seq, hash: state.head as EntryHash });
    }
    // The device's person unlinked it after the member check (a chain append, which does not move the group head).
    if (!result.ok && result.unlinked) throw notAMemberDevice(state, ctx.device, true);
    if (!result.ok) {
      // Not stale, so a version conflict.
      const currentVersion = result.currentVersion!;
      throw apiError(
        'CONFLICT',
        `version ${envelope.version} is not the next version of this note (the stored version is ${currentVersion}): read version ${currentVersion}, merge, and store version ${currentVersion + 1}`,
        { currentVersion },
      );
    }
    await ctx.feed.publish({ kind: 'note', groupId: state.groupId, noteId: envelope.noteId, version: envelope.version, cursor: result.cursor });
    return { noteId: envelope.noteId, version: envelope.version, cursor: result.cursor };
  }),

  /** One note: its newest version, or `version` (read in the member check's snapshot). */
  get: noteReaderProcedure.input(noteGetInput).query(async ({ ctx, input }) => {
    const { prefetched } = ctx;
    const envelope =
      prefetched && prefetched.read.noteId === input.noteId && prefetched.read.version === input.version
        ? prefetched.envelope
        : await ctx.store.getNote(input.groupId, input.noteId, input.version);
    if (!envelope) throw apiError('NOT_FOUND', input.version === undefined ? 'no note with this id in this group' : 'this note has no such version');
    return envelope;
  }),

  /**
   * Headers (no bodies) of notes changed after the cursor `since`, oldest change
   * first, at most `limit`. Pass the returned `cursor` as `since` next time; `more`
   * says another page is waiting now.
   */
  list: memberProcedure.input(noteListInput).query(async ({ ctx, input }) => {
    const rows = await ctx.store.listNotes(input.groupId, input.since, input.limit + 1);
    const page = rows.slice(0, input.limit);
    return { items: page.map((r) => r.header), cursor: page.at(-1)?.cursor ?? input.since, more: rows.length > input.limit };
  }),
});
