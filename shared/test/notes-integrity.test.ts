/**
 * A lying server cannot rewind or hide notes (issue 10, item 4; DESIGN §5). The real
 * `GroupClient` runs against an in-memory API whose operator lies: it serves an older
 * version as the newest, swaps a version for another, drops a note without a signed
 * deletion, breaks the chain of versions, and stores a late note by a removed member
 * sealed with the generation they still hold — also as a newer version of a note that
 * had already moved to a newer generation. Each is refused or flagged by name.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { GroupClient } from '../src/client/group-client.ts';
import { MemoryKeyStore } from '../src/client/key-store.ts';
import { MemoryNoteStore, type NoteStore } from '../src/client/note-store.ts';
import { generationKeys } from '../src/crypto/generations.ts';
import { currentGeneration } from '../src/crypto/group-log.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { NoteOpenError, sealNote } from '../src/crypto/note-envelope.ts';
import { noteVersionHash } from '../src/crypto/note-signature.ts';
import { toBase64url } from '../src/protocol/encoding.ts';
import type { GroupId, NoteId } from '../src/protocol/ids.ts';
import type { NoteEnvelope } from '../src/protocol/schemas.ts';
import { MemoryApi } from './support/memory-api.ts';

interface Device {
  identity: DeviceIdentity;
  keys: MemoryKeyStore;
  notes: NoteStore;
  client: GroupClient;
}

async function device(api: MemoryApi, notes: NoteStore = new MemoryNoteStore()): Promise<Device> {
  const identity = await generateIdentity();
  const keys = new MemoryKeyStore();
  const client = new GroupClient({ identity, session: api.session(identity), store: keys, notes });
  // A person is added to a group by the chain the server holds: publish this device's one-device chain.
  await client.publishPerson();
  return { identity, keys, notes, client };
}

/** The same device after a restart: a new client on the same stores. */
function restarted(api: MemoryApi, d: Device): Device {
  return { ...d, client: new GroupClient({ identity: d.identity, session: api.session(d.identity), store: d.keys, notes: d.notes }) };
}

async function refusal(promise: Promise<unknown>): Promise<NoteOpenError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NoteOpenError);
  return error as NoteOpenError;
}

/** A note version sealed by hand (what a removed member can still do with the seed it kept). */
async function sealedBy(d: Device, groupId: GroupId, address: { noteId: NoteId; version: number; generation: number }, prev: string | null, title: string): Promise<NoteEnvelope> {
  const seed = (await d.keys.load(groupId))!.seeds.get(address.generation)!;
  const { noteKey } = await generationKeys(seed, groupId, address.generation);
  return sealNote(d.identity, { groupId, ...address }, noteKey, { title, body: `${title} body` }, { prev });
}

describe('notes: a lying server cannot rewind or hide them', () => {
  let api: MemoryApi;
  let ana: Device, ben: Device;
  let groupId: GroupId;

  async function addMember(d: Device): Promise<void> {
    await ana.client.addMember(groupId, d.identity.fingerprint, 'member');
    expect(await d.client.openGroup(groupId)).toMatchObject({ hasKey: true });
  }

  beforeEach(async () => {
    api = new MemoryApi();
    ana = await device(api);
    ben = await device(api);
    ({ groupId } = await ana.client.createGroup());
    await addMember(ben);
  });

  it('versions form a signed chain: each names the hash of the one before, and the history is verified newest first', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Rota', body: 'v1' });
    await ben.client.writeNote(groupId, { title: 'Rota', body: 'v2' }, { noteId, version: 2 });
    await ana.client.writeNote(groupId, { title: 'Rota', body: 'v3' }, { noteId, version: 3 });
    const stored = api.stored(groupId, noteId);
    expect(stored.map((e) => e.prev)).toEqual([null, await noteVersionHash(stored[0]!), await noteVersionHash(stored[1]!)]);

    const history = await ben.client.noteHistory(groupId, noteId);
    expect(history.map((v) => [v.version, v.ok && v.body])).toEqual([
      [3, 'v3'],
      [2, 'v2'],
      [1, 'v1'],
    ]);
    expect(history.map((v) => v.hash)).toEqual(await Promise.all([...stored].reverse().map((e) => noteVersionHash(e))));
    expect(history[2]!.prev).toBeNull();
  });

  it('rolled-back: an older version served as the newest is flagged, also after a restart', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Door code', body: '4711' });
    await ana.client.writeNote(groupId, { title: 'Door code', body: '0815 since Monday' }, { noteId, version: 2 });
    expect(await ben.client.readNote(groupId, noteId)).toMatchObject({ version: 2, body: '0815 since Monday', warnings: [] });

    api.lie.rollBack(groupId, noteId, 1);
    const read = await ben.client.readNote(groupId, noteId);
    expect(read).toMatchObject({ version: 1, body: '4711' });
    expect(read.warnings).toEqual([expect.objectContaining({ code: 'rolled-back', seenVersion: 2 })]);
    const listed = (await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId);
    expect(listed).toMatchObject({ ok: true, version: 1, warnings: [expect.objectContaining({ code: 'rolled-back', seenVersion: 2 })] });

    // The memory is the device's, not the client object's.
    const again = restarted(api, ben);
    expect((await again.client.readNote(groupId, noteId)).warnings.map((w) => w.code)).toEqual(['rolled-back']);
    // Nor does the device sign a rival version 2 on top of the rolled-back one: it saw version 2.
    await expect(again.client.writeNote(groupId, { title: 'Door code', body: 'rival' }, { noteId, version: 2 })).rejects.toMatchObject({ currentVersion: 2 });
    // A device that never saw version 2 cannot tell (the threat model says so).
    const carl = await device(api);
    await addMember(carl);
    expect((await carl.client.readNote(groupId, noteId)).warnings).toEqual([]);
  });

  it('forked: a different note at a version this device saw is refused, directly or as the base of a newer one', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Plan', body: 'meet on Friday' });
    await ben.client.readNote(groupId, noteId);

    // Ana's own device signs a second version 1 (or the server replays one written elsewhere).
    const other = await sealedBy(ana, groupId, { noteId, version: 1, generation: 0 }, null, 'Plan B');
    api.lie.replace(other);
    expect((await refusal(ben.client.readNote(groupId, noteId))).reason).toBe('forked');

    // A version 2 that continues the other version 1 does not continue the one Ben saw.
    const next = await sealedBy(ana, groupId, { noteId, version: 2, generation: 0 }, await noteVersionHash(other), 'Plan B, amended');
    api.lie.inject(next);
    expect((await refusal(ben.client.readNote(groupId, noteId))).reason).toBe('forked');
    const listed = (await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId);
    expect(listed).toMatchObject({ ok: false, reason: 'forked' });
  });

  it('broken-chain: a version whose prev does not name the version before it, or a missing version, is refused', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Budget', body: '40' });
    await ben.client.readNote(groupId, noteId);
    await ana.client.writeNote(groupId, { title: 'Budget', body: '41' }, { noteId, version: 2 });
    // Version 3 names a hash that is no version of this note.
    const bogus = await sealedBy(ana, groupId, { noteId, version: 3, generation: 0 }, toBase64url(new Uint8Array(32).fill(7)), 'Budget');
    api.lie.inject(bogus);
    expect((await refusal(ben.client.readNote(groupId, noteId))).reason).toBe('broken-chain');
    expect((await refusal(ana.client.noteHistory(groupId, noteId))).reason).toBe('broken-chain');

    // A chain with a hole: the server no longer serves version 2.
    const { noteId: other } = await ana.client.writeNote(groupId, { title: 'Tools', body: 'saw' });
    await ben.client.readNote(groupId, other);
    await ana.client.writeNote(groupId, { title: 'Tools', body: 'saw, drill' }, { noteId: other, version: 2 });
    await ana.client.writeNote(groupId, { title: 'Tools', body: 'saw, drill, hammer' }, { noteId: other, version: 3 });
    api.lie.hide(groupId, other, 2);
    expect((await refusal(ben.client.readNote(groupId, other))).reason).toBe('broken-chain');
  });

  it('vanished: a note this device saw, missing from a full listing or answered NOT_FOUND without a signed deletion, is reported', async () => {
    const { noteId: kept } = await ana.client.writeNote(groupId, { title: 'Kept', body: '' });
    const { noteId: hidden } = await ana.client.writeNote(groupId, { title: 'Minutes', body: 'we decided' });
    const { noteId: deleted } = await ana.client.writeNote(groupId, { title: 'Old', body: 'stale' });
    expect((await ben.client.listNotes(groupId)).notes.every((n) => n.ok)).toBe(true);
    await ana.client.writeNote(groupId, { title: '', body: '' }, { noteId: deleted, version: 2, deleted: true });
    expect((await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === deleted)).toMatchObject({ ok: true, deleted: true });

    api.lie.vanish(groupId, hidden);
    api.lie.vanish(groupId, deleted);
    const { notes } = await ben.client.listNotes(groupId);
    expect(notes.find((n) => n.noteId === hidden)).toMatchObject({ ok: false, reason: 'vanished', version: 1, author: ana.identity.fingerprint });
    expect(notes.find((n) => n.noteId === kept)).toMatchObject({ ok: true });
    // A signed deletion was seen: dropping it hides nothing.
    expect(notes.find((n) => n.noteId === deleted)).toBeUndefined();
    expect((await refusal(ben.client.readNote(groupId, hidden))).reason).toBe('vanished');
    // An incremental listing cannot tell: only a full one is compared.
    expect((await ben.client.listNotes(groupId, { since: 1_000_000 })).notes).toEqual([]);
  });

  describe('late writes by a removed member, with the generation they still hold', () => {
    let carl: Device;
    beforeEach(async () => {
      carl = await device(api);
      await addMember(carl);
      // Ben tracks the group's notes from before Carl's removal.
      await ben.client.listNotes(groupId);
    });

    it('late-from-departed: a new note sealed with the old generation after the removal is flagged, naming the author', async () => {
      const oldGeneration = currentGeneration(await carl.client.state(groupId));
      const { noteId: before } = await carl.client.writeNote(groupId, { title: 'Carl, before', body: '' });
      await ben.client.listNotes(groupId);
      await ana.client.removeMember(groupId, carl.identity.fingerprint);
      const removedAt = (await ana.client.state(groupId)).departed.get(carl.identity.fingerprint)!.seq;

      const late = await sealedBy(carl, groupId, { noteId: newId(), version: 1, generation: oldGeneration }, null, 'Carl, afterwards');
      api.lie.inject(late);
      const { notes } = await ben.client.listNotes(groupId);
      const flagged = notes.find((n) => n.noteId === late.noteId);
      expect(flagged).toMatchObject({ ok: true, title: 'Carl, afterwards', author: carl.identity.fingerprint });
      expect(flagged?.ok && flagged.warnings).toEqual([
        expect.objectContaining({ code: 'late-from-departed', author: carl.identity.fingerprint, departedSeq: removedAt, how: 'removed', message: expect.stringMatching(/did not see it before/) }),
      ]);
      // What Ben saw before the removal is not flagged.
      expect(notes.find((n) => n.noteId === before)).toMatchObject({ ok: true, warnings: [] });
      expect((await ben.client.readNote(groupId, late.noteId)).warnings.map((w) => w.code)).toEqual(['late-from-departed']);

      // A device that started tracking after the removal cannot tell, and is not told.
      const dan = await device(api);
      await addMember(dan);
      expect((await dan.client.readNote(groupId, late.noteId)).warnings).toEqual([]);
    });

    it('generation-went-back: a late version of a note that had already moved to a newer generation is refused', async () => {
      const oldGeneration = currentGeneration(await carl.client.state(groupId));
      const { noteId } = await ana.client.writeNote(groupId, { title: 'Keys', body: 'under the mat' });
      await ana.client.removeMember(groupId, carl.identity.fingerprint);
      await ana.client.writeNote(groupId, { title: 'Keys', body: 'moved to the safe' }, { noteId, version: 2 });
      expect(api.stored(groupId, noteId)[1]!.generation).toBeGreaterThan(oldGeneration);
      await ben.client.readNote(groupId, noteId);

      const v2 = api.stored(groupId, noteId)[1]!;
      const late = await sealedBy(carl, groupId, { noteId, version: 3, generation: oldGeneration }, await noteVersionHash(v2), 'Keys');
      api.lie.inject(late);
      expect((await refusal(ben.client.readNote(groupId, noteId))).reason).toBe('generation-went-back');
      expect((await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId)).toMatchObject({ ok: false, reason: 'generation-went-back' });
      // Also on a device that never saw version 2: a departed author's version is checked against the one before.
      const dan = await device(api);
      await addMember(dan);
      expect((await refusal(dan.client.readNote(groupId, noteId))).reason).toBe('generation-went-back');
      expect((await refusal(dan.client.noteHistory(groupId, noteId))).reason).toBe('generation-went-back');
    });
  });

  it('an edit names the version it continues; a stale base is a conflict, not a fork', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'List', body: 'milk' });
    await ben.client.writeNote(groupId, { title: 'List', body: 'milk, eggs' }, { noteId, version: 2 });
    const stale = await ana.client.writeNote(groupId, { title: 'List', body: 'milk, bread' }, { noteId, version: 2 }).then(
      () => null,
      (e: unknown) => e as { currentVersion?: number },
    );
    expect(stale).toMatchObject({ currentVersion: 2 });
    await ana.client.writeNote(groupId, { title: 'List', body: 'milk, eggs, bread' }, { noteId, version: 3 });
    expect((await ben.client.noteHistory(groupId, noteId)).map((v) => v.version)).toEqual([3, 2, 1]);
  });
});

function newId(): NoteId {
  return toBase64url(crypto.getRandomValues(new Uint8Array(16))) as NoteId;
}
